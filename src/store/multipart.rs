//! A minimal signed S3 multipart client (reqwest + reqsign's AWS SigV4), for what OpenDAL 0.54 does
//! not offer: UploadPartCopy (the store assembles an object from ranges of others, server-side) and
//! multipart uploads that any process can continue (the upload id is all the state there is).
//!
//! S3 (and S3-compatible servers such as MinIO and s3s) only: Alibaba OSS and Tencent COS sign and
//! name their copy headers differently, and [`super::Store::multipart`] is None for them (their
//! callers take the paths that need no multipart).
//!
//! Contract: keys are the store's keys (relative, under the configured root, like OpenDAL's);
//! every request is signed with the store's keys, which never appear in logs or in `Debug`.
//! Parts are numbered from 1; every part but the last must be at least [`MIN_PART`] bytes (the
//! backend refuses the completion otherwise). An upload that is neither completed nor aborted
//! keeps its parts on the backend until a lifecycle rule removes them; callers abort on failure.

use crate::config::{StoreBackend, StoreSettings};
use anyhow::{anyhow, bail, Context as _};
use base64::Engine as _;
use bytes::Bytes;
use md5::{Digest, Md5};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqsign::{AwsCredential, AwsV4Signer};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use std::ops::Range;
use std::time::Duration;

/// The smallest part S3 accepts for every part but the last.
pub const MIN_PART: u64 = 5 << 20;
/// The largest part S3 accepts.
pub const MAX_PART: u64 = 5 << 30;
/// The most parts one upload may have.
pub const MAX_PARTS: u32 = 10_000;

/// Unreserved characters stay; everything else in a key segment is percent-encoded.
const KEY_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A signed S3 client for multipart uploads into the store's bucket.
pub struct Multipart {
    http: reqwest::Client,
    /// `scheme://host[:port]` to send to (the bucket's own host with virtual-host addressing).
    origin: String,
    /// `/bucket` with path-style addressing, empty with virtual-host addressing.
    bucket_path: String,
    bucket: String,
    /// The store's root prefix inside the bucket: empty or ending with `/`.
    root: String,
    signer: AwsV4Signer,
    cred: AwsCredential,
}

impl std::fmt::Debug for Multipart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multipart")
            .field("origin", &self.origin)
            .field("bucket", &self.bucket)
            .field("root", &self.root)
            .field("credentials", &"<redacted>")
            .finish()
    }
}

/// An open multipart upload: the key it will complete at and the backend's upload id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub key: String,
    pub id: String,
}

/// A stored part, as the completion names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    pub number: u32,
    pub etag: String,
}

fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|s| utf8_percent_encode(s, KEY_SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// The text of the first `<tag>...</tag>` in `xml`, entities decoded.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(
        xml[start..end]
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Multipart {
    /// The client for the store's bucket; None for backends it does not speak (fs, OSS, COS).
    pub fn from_settings(s: &StoreSettings) -> anyhow::Result<Option<Multipart>> {
        if s.backend != StoreBackend::S3 || !s.s3_multipart {
            return Ok(None);
        }
        let region = s.region.clone().unwrap_or_else(|| "us-east-1".into());
        let bucket = s
            .bucket
            .clone()
            .context("store.bucket is required for this store backend")?;
        let endpoint = s
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let url = reqwest::Url::parse(&endpoint).with_context(|| format!("store.endpoint {endpoint:?}"))?;
        let host = url.host_str().context("store.endpoint has no host")?;
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let (origin, bucket_path) = if s.virtual_host_style {
            (format!("{}://{bucket}.{host}{port}", url.scheme()), String::new())
        } else {
            (
                format!("{}://{host}{port}", url.scheme()),
                format!("/{}", encode_key(&bucket)),
            )
        };
        let root = s.root.as_deref().unwrap_or("").trim_matches('/');
        let cred = AwsCredential {
            access_key_id: s.access_key_id.clone().context("store.access_key_id is required")?,
            secret_access_key: s
                .secret_access_key
                .as_ref()
                .map(|k| k.expose_secret().to_owned())
                .context("store.secret_access_key is required")?,
            session_token: None,
            expires_in: None,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Some(Multipart {
            http,
            origin,
            bucket_path,
            bucket,
            root: if root.is_empty() {
                String::new()
            } else {
                format!("{root}/")
            },
            signer: AwsV4Signer::new("s3", &region),
            cred,
        }))
    }

    fn url(&self, key: &str, query: &str) -> String {
        let full = encode_key(&format!("{}{key}", self.root));
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!("{}{}/{full}{q}", self.origin, self.bucket_path)
    }

    /// Signs and sends; Err unless 2xx (with the backend's error code), else the body's text.
    async fn send(
        &self,
        mut req: reqwest::Request,
        what: &str,
    ) -> anyhow::Result<(reqwest::header::HeaderMap, String)> {
        self.signer
            .sign(&mut req, &self.cred)
            .map_err(|e| anyhow!("signing {what}: {e}"))?;
        let resp = self
            .http
            .execute(req)
            .await
            .with_context(|| format!("{what}: sending"))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp
            .text()
            .await
            .with_context(|| format!("{what}: reading the answer"))?;
        // A completion or copy can fail after the 200 has been sent: the error is in the body.
        if !status.is_success() || text.contains("<Error>") {
            let code = xml_text(&text, "Code").unwrap_or_default();
            let msg = xml_text(&text, "Message").unwrap_or_default();
            let status = if status.is_success() {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                status
            };
            bail!("{what}: {status} {code} {msg}");
        }
        Ok((headers, text))
    }

    fn request(&self, method: Method, key: &str, query: &str) -> anyhow::Result<reqwest::Request> {
        Ok(reqwest::Request::new(
            method,
            reqwest::Url::parse(&self.url(key, query))?,
        ))
    }

    /// Retries `f` on failure (three tries, a short backoff): for requests that can be rebuilt.
    async fn retried<T, F, Fut>(&self, what: &str, f: F) -> anyhow::Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<T>>,
    {
        let mut tries = 0;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) if tries < 2 => {
                    tries += 1;
                    tracing::debug!(error = %format!("{e:#}"), what, "store request failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// CreateMultipartUpload at `key`.
    pub async fn create(&self, key: &str) -> anyhow::Result<Upload> {
        let id = self
            .retried("CreateMultipartUpload", || async {
                let req = self.request(Method::POST, key, "uploads")?;
                let (_, text) = self.send(req, "CreateMultipartUpload").await?;
                xml_text(&text, "UploadId").ok_or_else(|| anyhow!("CreateMultipartUpload: no UploadId"))
            })
            .await?;
        Ok(Upload {
            key: key.to_owned(),
            id,
        })
    }

    fn part_query(up: &Upload, number: u32) -> String {
        format!(
            "partNumber={number}&uploadId={}",
            utf8_percent_encode(&up.id, KEY_SEGMENT)
        )
    }

    fn etag(headers: &reqwest::header::HeaderMap, what: &str) -> anyhow::Result<String> {
        headers
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{what}: no ETag"))
    }

    /// UploadPart from bytes in memory, with their Content-MD5 (retried).
    pub async fn put_part(&self, up: &Upload, number: u32, data: Bytes) -> anyhow::Result<Part> {
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&data));
        let etag = self
            .retried("UploadPart", || async {
                let mut req = self.request(Method::PUT, &up.key, &Self::part_query(up, number))?;
                req.headers_mut().insert("content-md5", md5.parse()?);
                *req.body_mut() = Some(reqwest::Body::from(data.clone()));
                let (headers, _) = self.send(req, "UploadPart").await?;
                Self::etag(&headers, "UploadPart")
            })
            .await?;
        Ok(Part { number, etag })
    }

    /// UploadPart from a stream of exactly `len` bytes (not retried: the stream is spent);
    /// `md5` is sent as Content-MD5 when the caller knows it.
    pub async fn put_part_stream(
        &self,
        up: &Upload,
        number: u32,
        body: reqwest::Body,
        len: u64,
        md5: Option<[u8; 16]>,
    ) -> anyhow::Result<Part> {
        let mut req = self.request(Method::PUT, &up.key, &Self::part_query(up, number))?;
        req.headers_mut().insert(reqwest::header::CONTENT_LENGTH, len.into());
        if let Some(m) = md5 {
            let v = base64::engine::general_purpose::STANDARD.encode(m);
            req.headers_mut().insert("content-md5", v.parse()?);
        }
        *req.body_mut() = Some(body);
        let (headers, _) = self.send(req, "UploadPart").await?;
        Ok(Part {
            number,
            etag: Self::etag(&headers, "UploadPart")?,
        })
    }

    /// UploadPartCopy: part `number` is bytes `range` of the object at `src` (another key of the
    /// store), copied by the backend.
    pub async fn copy_part(&self, up: &Upload, number: u32, src: &str, range: Range<u64>) -> anyhow::Result<Part> {
        if range.is_empty() {
            bail!("UploadPartCopy of an empty range");
        }
        let source = format!(
            "/{}/{}",
            encode_key(&self.bucket),
            encode_key(&format!("{}{src}", self.root))
        );
        let span = format!("bytes={}-{}", range.start, range.end - 1);
        let etag = self
            .retried("UploadPartCopy", || async {
                let mut req = self.request(Method::PUT, &up.key, &Self::part_query(up, number))?;
                req.headers_mut().insert("x-amz-copy-source", source.parse()?);
                req.headers_mut().insert("x-amz-copy-source-range", span.parse()?);
                let (_, text) = self.send(req, "UploadPartCopy").await?;
                xml_text(&text, "ETag").ok_or_else(|| anyhow!("UploadPartCopy: no ETag"))
            })
            .await?;
        Ok(Part { number, etag })
    }

    /// CompleteMultipartUpload: the object appears at the upload's key, made of `parts` in order.
    pub async fn complete(&self, up: &Upload, parts: &[Part]) -> anyhow::Result<()> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for p in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                p.number,
                xml_escape(&p.etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let query = format!("uploadId={}", utf8_percent_encode(&up.id, KEY_SEGMENT));
        self.retried("CompleteMultipartUpload", || async {
            let mut req = self.request(Method::POST, &up.key, &query)?;
            req.headers_mut()
                .insert(reqwest::header::CONTENT_TYPE, "application/xml".parse()?);
            *req.body_mut() = Some(reqwest::Body::from(xml.clone()));
            self.send(req, "CompleteMultipartUpload").await.map(|_| ())
        })
        .await
    }

    /// AbortMultipartUpload: the parts are freed. An upload already gone is not an error.
    pub async fn abort(&self, up: &Upload) -> anyhow::Result<()> {
        let query = format!("uploadId={}", utf8_percent_encode(&up.id, KEY_SEGMENT));
        let req = self.request(Method::DELETE, &up.key, &query)?;
        match self.send(req, "AbortMultipartUpload").await {
            Err(e) if format!("{e}").contains("NoSuchUpload") => Ok(()),
            r => r.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn settings() -> StoreSettings {
        let mut s = Settings::default().store;
        s.backend = StoreBackend::S3;
        s.bucket = Some("rec".into());
        s.endpoint = Some("http://127.0.0.1:9000".into());
        s.root = Some("/pre/fix/".into());
        s.access_key_id = Some("id".into());
        s.secret_access_key = Some("very-secret".into());
        s
    }

    #[test]
    fn urls_follow_the_store_layout_and_debug_hides_the_keys() {
        let m = Multipart::from_settings(&settings()).unwrap().unwrap();
        assert_eq!(
            m.url("assembly/t 1/piece", "uploads"),
            "http://127.0.0.1:9000/rec/pre/fix/assembly/t%201/piece?uploads"
        );
        let shown = format!("{m:?}");
        assert!(!shown.contains("very-secret") && !shown.contains("\"id\""), "{shown}");
        let mut s = settings();
        s.virtual_host_style = true;
        s.root = None;
        let m = Multipart::from_settings(&s).unwrap().unwrap();
        assert_eq!(m.url("a/b", ""), "http://rec.127.0.0.1:9000/a/b");
        s.backend = StoreBackend::Oss;
        assert!(Multipart::from_settings(&s).unwrap().is_none());
    }

    #[test]
    fn xml_answers_are_read() {
        let x = "<CopyPartResult><ETag>&quot;abc&quot;</ETag></CopyPartResult>";
        assert_eq!(xml_text(x, "ETag").as_deref(), Some("\"abc\""));
        assert_eq!(xml_text(x, "UploadId"), None);
    }
}
