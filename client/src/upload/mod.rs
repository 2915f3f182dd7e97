//! Slice upload over tus 1.0.0: create (metadata `task_id`, `slice_index`, `filename`), PATCH in
//! chunks each with an `Upload-Checksum: md5`, resume from the server's `Upload-Offset` after any
//! failure, and only then trust the server's word: the slice counts as uploaded when the task
//! status shows its MD5 equal to the local file's.

pub mod journal;

use crate::server::{Error, ServerClient};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use journal::{Entry, Journal};
use md5::{Digest, Md5};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes per PATCH.
    pub chunk_size: usize,
    /// Attempts per chunk before giving up (with backoff between them).
    pub attempts: u32,
    /// Stop after this many chunks as if the process died (for tests of resumption).
    pub stop_after_chunks: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            chunk_size: 4 * 1024 * 1024,
            attempts: 8,
            stop_after_chunks: None,
        }
    }
}

/// What the server confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub size: u64,
    pub md5: String,
    /// false when `stop_after_chunks` interrupted it
    pub complete: bool,
}

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

async fn file_md5(path: &Path) -> Result<(u64, String), Error> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex_lower(&h.finalize())))
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl ServerClient {
    fn tus(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header("tus-resumable", "1.0.0")
            .header("authorization", self.authorization())
    }

    async fn create_upload(&self, e: &Entry) -> Result<String, Error> {
        let name = e
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("{}.flv", e.index));
        let md = format!(
            "task_id {},slice_index {},filename {}",
            b64(&e.task_id),
            b64(&e.index.to_string()),
            b64(&name)
        );
        let r = self
            .tus(reqwest::Method::POST, &format!("{}/localrecord/v1/uploads/", self.base))
            .header("upload-length", e.size.to_string())
            .header("upload-metadata", md)
            .send()
            .await?;
        if r.status().as_u16() != 201 {
            return Err(Self::answer::<serde_json::Value>(r)
                .await
                .err()
                .unwrap_or(Error::Protocol("upload not created".into())));
        }
        let loc = r
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| Error::Protocol("201 without Location".into()))?;
        self.on_our_origin(loc)
    }

    /// An upload URL (a `Location`, or one the journal kept) resolved against the server URL,
    /// if it is on the server's own origin. Every request to it carries the UserSig, so a
    /// Location on another scheme, host or port is refused, not followed.
    fn on_our_origin(&self, loc: &str) -> Result<String, Error> {
        let base =
            reqwest::Url::parse(&self.base).map_err(|e| Error::Protocol(format!("server URL {}: {e}", self.base)))?;
        let url = base
            .join(loc)
            .map_err(|e| Error::Protocol(format!("upload Location {loc:?}: {e}")))?;
        if url.origin() != base.origin() {
            return Err(Error::Protocol(format!(
                "the server's upload URL {url} is not on {}; refusing to send the UserSig there",
                base.origin().ascii_serialization()
            )));
        }
        Ok(url.into())
    }

    /// The server's offset for an upload; None when it no longer knows it (expired, removed).
    async fn offset(&self, url: &str) -> Result<Option<u64>, Error> {
        let r = self.tus(reqwest::Method::HEAD, url).send().await?;
        match r.status().as_u16() {
            200 => Ok(r
                .headers()
                .get("upload-offset")
                .and_then(|v| v.to_str().ok()?.parse().ok())),
            404 | 410 => Ok(None),
            s => Err(Error::Refused {
                status: s,
                code: 0,
                message: "HEAD failed".into(),
            }),
        }
    }

    async fn patch(&self, url: &str, offset: u64, chunk: Vec<u8>) -> Result<u64, Error> {
        let sum = STANDARD.encode(Md5::digest(&chunk));
        let r = self
            .tus(reqwest::Method::PATCH, url)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .header("upload-checksum", format!("md5 {sum}"))
            .body(chunk)
            .send()
            .await?;
        if r.status().as_u16() == 204 {
            return r
                .headers()
                .get("upload-offset")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .ok_or_else(|| Error::Protocol("204 without Upload-Offset".into()));
        }
        let status = r.status().as_u16();
        match Self::answer::<serde_json::Value>(r).await {
            Err(Error::Refused { code, message, .. }) if status == 460 => Err(Error::Refused {
                status: 503,
                code,
                message,
            }),
            // Another offset, or the upload expired meanwhile: HEAD tells where it stands.
            Err(Error::Refused {
                status: s @ (404 | 409 | 410),
                message,
                ..
            }) => Err(Error::UploadMoved {
                conflict: s == 409,
                message,
            }),
            Err(e) => Err(e),
            Ok(_) => Err(Error::Protocol(format!("PATCH answered {status}"))),
        }
    }

    /// Uploads slice `index` of `task_id` from `path`, resuming any upload the journal remembers.
    /// Returns once the server has the slice with the file's MD5 (and drops the journal entry).
    pub async fn upload_slice(
        &self,
        journal: &Journal,
        task_id: &str,
        index: i32,
        path: &Path,
        opts: &Options,
    ) -> Result<Receipt, Error> {
        let (size, md5) = file_md5(path).await?;
        let mut entry = match journal.get(task_id, index) {
            Some(e) if e.size == size && e.md5 == md5 => e,
            _ => Entry {
                task_id: task_id.to_owned(),
                index,
                path: path.to_owned(),
                size,
                md5: md5.clone(),
                upload_url: None,
            },
        };
        journal.put(&entry)?;
        let mut file = tokio::fs::File::open(path).await?;
        let mut chunks = 0usize;
        let mut failures = 0u32;
        // The last PATCH was answered with a conflict (409).
        let mut moved = false;
        loop {
            let step: Result<Option<u64>, Error> = async {
                // A journal written for another server URL: start over here.
                let kept = entry.upload_url.as_deref().and_then(|u| self.on_our_origin(u).ok());
                let url = match kept {
                    Some(u) => u,
                    None => {
                        let u = self.create_upload(&entry).await?;
                        entry.upload_url = Some(u.clone());
                        journal.put(&entry)?;
                        u
                    }
                };
                let Some(offset) = self.offset(&url).await? else {
                    if moved {
                        // The server dropped the upload the moment it was complete: the slice is
                        // stored with other content. Uploading it again cannot change that.
                        return Err(Error::Refused {
                            status: 409,
                            code: crate::api::codes::CONFLICT,
                            message: format!("slice {index} is already stored on the server with other content"),
                        });
                    }
                    entry.upload_url = None; // forgotten by the server: start over
                    return Ok(None);
                };
                if offset >= size {
                    return Ok(Some(offset));
                }
                if opts.stop_after_chunks.is_some_and(|n| chunks >= n) {
                    return Ok(Some(offset));
                }
                let len = (opts.chunk_size as u64).min(size - offset) as usize;
                let mut chunk = vec![0u8; len];
                file.seek(std::io::SeekFrom::Start(offset)).await?;
                file.read_exact(&mut chunk).await?;
                let new = self.patch(&url, offset, chunk).await?;
                chunks += 1;
                Ok(Some(new))
            }
            .await;
            match step {
                Ok(Some(off)) if off >= size => break,
                Ok(Some(off)) if opts.stop_after_chunks.is_some_and(|n| chunks >= n) => {
                    return Ok(Receipt {
                        size: off,
                        md5,
                        complete: false,
                    });
                }
                Ok(_) => (failures, moved) = (0, false),
                Err(e) if e.is_transient() && failures + 1 < opts.attempts => {
                    failures += 1;
                    moved = matches!(e, Error::UploadMoved { conflict: true, .. });
                    tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(failures.min(6)))).await;
                }
                Err(e) => return Err(e),
            }
        }
        // Trust, but verify: the server must hold exactly these bytes.
        let status = self.task_status(task_id).await?;
        let stored = status
            .slices
            .iter()
            .find(|s| s.index == index)
            .and_then(|s| s.md5.clone());
        if stored.as_deref() != Some(md5.as_str()) {
            return Err(Error::Protocol(format!(
                "server holds slice {index} with MD5 {stored:?}, not {md5}"
            )));
        }
        journal.remove(task_id, index)?;
        Ok(Receipt {
            size,
            md5,
            complete: true,
        })
    }
}
