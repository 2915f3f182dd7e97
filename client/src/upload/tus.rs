//! The tus 1.0.0 requests of one slice upload: creation with the slice's metadata, the offset
//! (HEAD), and a PATCH with an MD5 checksum; and the rule that an upload URL must be on the
//! server's own origin, since every request to it carries the UserSig.

use super::journal::Entry;
use crate::api::tus;
use crate::server::{Error, ServerClient};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest, Md5};

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

/// The key id of an encrypted slice file (read from its header), None for a plain one.
fn encrypted_with(path: &std::path::Path) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let h = localrecord_crypt::Header::read_from(&mut f, None).ok()?;
    Some(h.key_id.to_string())
}

impl ServerClient {
    fn tus(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header("tus-resumable", tus::VERSION)
            .header("authorization", self.authorization())
    }

    pub(super) async fn create_upload(&self, e: &Entry) -> Result<String, Error> {
        let name = e
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("{}.flv", e.index));
        let mut md = format!(
            "{} {},{} {},{} {}",
            tus::metadata::TASK_ID,
            b64(&e.task_id),
            tus::metadata::SLICE_INDEX,
            b64(&e.index.to_string()),
            tus::metadata::FILENAME,
            b64(&name)
        );
        if let Some(key_id) = encrypted_with(&e.path) {
            use tus::metadata::{ENCRYPTION, ENCRYPTION_V1, KEY_ID};
            md += &format!(",{ENCRYPTION} {},{KEY_ID} {}", b64(ENCRYPTION_V1), b64(&key_id));
        }
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
    pub(super) fn on_our_origin(&self, loc: &str) -> Result<String, Error> {
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
    pub(super) async fn offset(&self, url: &str) -> Result<Option<u64>, Error> {
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

    pub(super) async fn patch(&self, url: &str, offset: u64, chunk: Vec<u8>) -> Result<u64, Error> {
        let sum = STANDARD.encode(Md5::digest(&chunk));
        let r = self
            .tus(reqwest::Method::PATCH, url)
            .header("content-type", tus::OFFSET_CONTENT_TYPE)
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
}
