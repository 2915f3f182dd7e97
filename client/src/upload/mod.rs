//! Slice upload over tus 1.0.0: create (metadata `task_id`, `slice_index`, `filename`), PATCH in
//! chunks each with an `Upload-Checksum: md5`, resume from the server's `Upload-Offset` after any
//! failure, and only then trust the server's word: the slice counts as uploaded when the task
//! status shows its MD5 equal to the local file's.

pub mod journal;
mod tus;

use crate::server::{Error, ServerClient};
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

/// One slice's upload under way: its journal entry, the file, and what the loop remembers.
struct InFlight<'a> {
    journal: &'a Journal,
    entry: Entry,
    file: tokio::fs::File,
    chunks: usize,
    /// The last PATCH was answered with a conflict (409).
    moved: bool,
}

impl ServerClient {
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
        let entry = match journal.get(task_id, index) {
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
        let file = tokio::fs::File::open(path).await?;
        let mut up = InFlight {
            journal,
            entry,
            file,
            chunks: 0,
            moved: false,
        };
        let mut failures = 0u32;
        loop {
            match self.step(&mut up, opts).await {
                Ok(Some(off)) if off >= size => break,
                Ok(Some(off)) if opts.stop_after_chunks.is_some_and(|n| up.chunks >= n) => {
                    return Ok(Receipt {
                        size: off,
                        md5,
                        complete: false,
                    });
                }
                Ok(_) => (failures, up.moved) = (0, false),
                Err(e) if e.is_transient() && failures + 1 < opts.attempts => {
                    failures += 1;
                    up.moved = matches!(e, Error::UploadMoved { conflict: true, .. });
                    tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(failures.min(6)))).await;
                }
                Err(e) => return Err(e),
            }
        }
        self.verify_stored(task_id, index, &md5).await?;
        journal.remove(task_id, index)?;
        Ok(Receipt {
            size,
            md5,
            complete: true,
        })
    }

    /// One round: find (or create) the upload, ask its offset, send the next chunk. The server's
    /// offset afterwards, or None when the server forgot the upload (start over).
    async fn step(&self, up: &mut InFlight<'_>, opts: &Options) -> Result<Option<u64>, Error> {
        // A journal written for another server URL: start over here.
        let kept = up.entry.upload_url.as_deref().and_then(|u| self.on_our_origin(u).ok());
        let url = match kept {
            Some(u) => u,
            None => {
                let u = self.create_upload(&up.entry).await?;
                up.entry.upload_url = Some(u.clone());
                up.journal.put(&up.entry)?;
                u
            }
        };
        let (size, index) = (up.entry.size, up.entry.index);
        let Some(offset) = self.offset(&url).await? else {
            if up.moved {
                // The server dropped the upload the moment it was complete: the slice is
                // stored with other content. Uploading it again cannot change that.
                return Err(Error::Refused {
                    status: 409,
                    code: crate::api::codes::CONFLICT,
                    message: format!("slice {index} is already stored on the server with other content"),
                });
            }
            up.entry.upload_url = None; // forgotten by the server: start over
            return Ok(None);
        };
        if offset >= size || opts.stop_after_chunks.is_some_and(|n| up.chunks >= n) {
            return Ok(Some(offset));
        }
        let len = (opts.chunk_size as u64).min(size - offset) as usize;
        let mut chunk = vec![0u8; len];
        up.file.seek(std::io::SeekFrom::Start(offset)).await?;
        up.file.read_exact(&mut chunk).await?;
        let new = self.patch(&url, offset, chunk).await?;
        up.chunks += 1;
        Ok(Some(new))
    }

    /// Trust, but verify: the server must hold exactly these bytes.
    async fn verify_stored(&self, task_id: &str, index: i32, md5: &str) -> Result<(), Error> {
        let status = self.task_status(task_id).await?;
        let stored = status
            .slices
            .iter()
            .find(|s| s.index == index)
            .and_then(|s| s.md5.clone());
        if stored.as_deref() != Some(md5) {
            return Err(Error::Protocol(format!(
                "server holds slice {index} with MD5 {stored:?}, not {md5}"
            )));
        }
        Ok(())
    }
}
