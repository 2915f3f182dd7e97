//! tus 1.0.0 for `http(s)://` targets whose server speaks it (asked once per output with
//! OPTIONS): a slice is created with POST and sent in PATCHes of at most `UploadCfg::tus_chunk`
//! bytes read from its file, so an attempt after a failure asks the server (HEAD) how much it
//! already holds and sends only the rest, where a PUT would send the whole slice again. A server
//! without tus (or without its creation extension) keeps getting one PUT per slice.

use crate::api::tus::{metadata, OFFSET_CONTENT_TYPE, VERSION};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::{HeaderMap, CONTENT_TYPE, LOCATION};
use reqwest::{Client, Method, StatusCode, Url};
use std::io::SeekFrom;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// A tus server's creation URL (`<base>/`).
pub(super) struct Tus {
    create: Url,
}

/// How far one slice's upload got; kept across the attempts of that slice.
#[derive(Default)]
pub(super) struct Resume {
    /// The upload's URL, once created.
    pub(super) url: Option<Url>,
    /// Bytes the server said it holds, last time it said.
    pub(super) offset: u64,
}

/// Whether the server at `base` speaks tus 1.0.0 with creation (OPTIONS `<base>/`). Any answer
/// settles it for the output, except a gateway's 502/503/504 or no answer at all (Err): those
/// say nothing about the server behind, so the next attempt asks again. A plain server answering
/// 404, 405 or 501 to OPTIONS is thus a PUT target.
pub(super) async fn discover(client: &Client, base: &str) -> Result<Option<Tus>, String> {
    let create = Url::parse(&format!("{base}/")).map_err(|e| format!("{base}/: {e}"))?;
    let r = client
        .request(Method::OPTIONS, create.clone())
        .send()
        .await
        .map_err(|e| format!("OPTIONS: {e}"))?;
    let s = r.status();
    if matches!(s.as_u16(), 502..=504) {
        return Err(format!("OPTIONS answered HTTP {s}"));
    }
    let h = r.headers();
    let version = lists(h, "tus-version", VERSION) || lists(h, "tus-resumable", VERSION);
    let speaks = s.is_success() && version && lists(h, "tus-extension", "creation");
    Ok(speaks.then_some(Tus { create }))
}

/// Whether header `name` is a comma-separated list holding `item`.
fn lists(h: &HeaderMap, name: &str, item: &str) -> bool {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim() == item)
}

fn upload_offset(h: &HeaderMap) -> Option<u64> {
    h.get("upload-offset")?.to_str().ok()?.parse().ok()
}

fn request(client: &Client, method: Method, url: &Url) -> reqwest::RequestBuilder {
    client.request(method, url.clone()).header("tus-resumable", VERSION)
}

impl Tus {
    /// One attempt at a slice: on from where the server says an earlier attempt left it (HEAD),
    /// or from a new upload when there was none or the server no longer knows it (404/410:
    /// expired or removed), then PATCHes until it holds all `size` bytes. Only one chunk is in
    /// memory at a time, however large the slice.
    pub(super) async fn send(
        &self,
        client: &Client,
        (path, name, size): (&Path, &str, u64),
        chunk: usize,
        r: &mut Resume,
    ) -> Result<(), String> {
        if let Some(url) = &r.url {
            match head(client, url).await? {
                Some(o) if o <= size => r.offset = o,
                Some(o) => return Err(format!("the server holds {o} bytes of a {size}-byte slice")),
                None => *r = Resume::default(),
            }
        }
        let url = match &r.url {
            Some(u) => u.clone(),
            None => {
                let u = self.create_upload(client, name, size).await?;
                *r = Resume {
                    url: Some(u.clone()),
                    offset: 0,
                };
                u
            }
        };
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        while r.offset < size {
            let n = (size - r.offset).min(chunk.max(1) as u64) as usize;
            let mut buf = vec![0; n];
            file.seek(SeekFrom::Start(r.offset)).await.map_err(|e| e.to_string())?;
            file.read_exact(&mut buf)
                .await
                .map_err(|e| format!("{}: {e}", path.display()))?;
            r.offset = patch(client, &url, r.offset, buf).await?;
        }
        Ok(())
    }

    /// POST `<base>/` (creation); the upload URL is the `Location`, resolved against the URL
    /// POSTed to, since servers may answer a path (`/files/ID`) or even a bare `ID`.
    async fn create_upload(&self, client: &Client, name: &str, size: u64) -> Result<Url, String> {
        let r = request(client, Method::POST, &self.create)
            .header("upload-length", size.to_string())
            .header(
                "upload-metadata",
                format!("{} {}", metadata::FILENAME, STANDARD.encode(name)),
            )
            .send()
            .await
            .map_err(|e| format!("POST: {e}"))?;
        if r.status() != StatusCode::CREATED {
            return Err(format!("POST answered HTTP {}", r.status()));
        }
        let loc = r
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or("POST answered 201 without a Location")?;
        self.create.join(loc).map_err(|e| format!("Location {loc:?}: {e}"))
    }
}

/// The server's offset for an upload; None when it no longer knows the upload.
async fn head(client: &Client, url: &Url) -> Result<Option<u64>, String> {
    let r = request(client, Method::HEAD, url)
        .send()
        .await
        .map_err(|e| format!("HEAD: {e}"))?;
    match r.status() {
        StatusCode::NOT_FOUND | StatusCode::GONE => Ok(None),
        s if s.is_success() => upload_offset(r.headers())
            .map(Some)
            .ok_or_else(|| "HEAD answered without Upload-Offset".into()),
        s => Err(format!("HEAD answered HTTP {s}")),
    }
}

/// Sends `body` at `offset`; the server's new offset. One that did not move on is an error, so a
/// server acknowledging nothing cannot keep an attempt looping.
async fn patch(client: &Client, url: &Url, offset: u64, body: Vec<u8>) -> Result<u64, String> {
    let r = request(client, Method::PATCH, url)
        .header(CONTENT_TYPE, OFFSET_CONTENT_TYPE)
        .header("upload-offset", offset.to_string())
        .body(body)
        .send()
        .await
        .map_err(|e| format!("PATCH at {offset}: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("PATCH at {offset} answered HTTP {}", r.status()));
    }
    match upload_offset(r.headers()) {
        Some(o) if o > offset => Ok(o),
        o => Err(format!("PATCH at {offset} answered Upload-Offset {o:?}")),
    }
}
