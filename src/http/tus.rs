//! tus 1.0.0 header grammar: versions, `Upload-Metadata`, `Upload-Concat`, `Upload-Expires`.

use super::error::{Error, Result};
use crate::db::uploads::ConcatKind;
use crate::ingest::checksum::{self, Algo, Checksum};
use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

pub use localrecord_api::tus::{metadata, EXTENSIONS, OFFSET_CONTENT_TYPE, VERSION};

pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Result<Option<&'a str>> {
    match h.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| Error::invalid(format!("{name} is not ASCII"))),
    }
}

/// Every request but OPTIONS must say `Tus-Resumable: 1.0.0`.
pub fn check_version(h: &HeaderMap) -> Result<()> {
    match header(h, "tus-resumable")? {
        Some(VERSION) => Ok(()),
        Some(other) => Err(Error::PreconditionFailed(format!(
            "Tus-Resumable {other} is not supported; this server speaks {VERSION}"
        ))),
        None => Err(Error::PreconditionFailed(format!(
            "Tus-Resumable: {VERSION} header is required"
        ))),
    }
}

/// A non-negative integer header.
pub fn number(h: &HeaderMap, name: &str) -> Result<Option<i64>> {
    header(h, name)?
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| Error::invalid(format!("{name} must be a non-negative integer")))
        })
        .transpose()
}

/// `Upload-Checksum: <md5|sha1> <base64 digest>` (the checksum extension).
pub fn checksum(header: &str) -> Result<Checksum> {
    let (algo, digest) = header
        .trim()
        .split_once(' ')
        .ok_or_else(|| Error::invalid("Upload-Checksum must be '<algorithm> <base64 digest>'"))?;
    let (algo, len) = match algo {
        "md5" => (Algo::Md5, 16),
        "sha1" => (Algo::Sha1, 20),
        other => {
            return Err(Error::invalid(format!(
                "Upload-Checksum algorithm {other:?} is not supported; use one of {}",
                checksum::ALGORITHMS
            )))
        }
    };
    let expected = STANDARD
        .decode(digest.trim())
        .map_err(|_| Error::invalid("Upload-Checksum digest is not base64"))?;
    if expected.len() != len {
        return Err(Error::invalid(format!(
            "Upload-Checksum {algo:?} digest must be {len} bytes"
        )));
    }
    Ok(Checksum { algo, expected })
}

/// `Upload-Metadata: key base64,key2 base64,flag`. Keys are unique; values must be UTF-8 here.
pub fn metadata(raw: Option<&str>) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(raw) = raw else { return Ok(out) };
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = pair.splitn(2, ' ');
        let key = it.next().unwrap_or_default();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(Error::invalid(format!("Upload-Metadata key {key:?} is not valid")));
        }
        let value = match it.next().map(str::trim) {
            None | Some("") => String::new(),
            Some(b64) => {
                let bytes = STANDARD
                    .decode(b64)
                    .map_err(|_| Error::invalid(format!("Upload-Metadata value of {key} is not base64")))?;
                String::from_utf8(bytes)
                    .map_err(|_| Error::invalid(format!("Upload-Metadata value of {key} is not UTF-8")))?
            }
        };
        if out.insert(key.to_owned(), value).is_some() {
            return Err(Error::invalid(format!("Upload-Metadata key {key} appears twice")));
        }
    }
    Ok(out)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Concat {
    None,
    Partial,
    /// The partial uploads to join, in order.
    Final(Vec<Uuid>),
}

/// `Upload-Concat: partial` or `Upload-Concat: final;/uploads/a https://host/uploads/b`.
pub fn concat(raw: Option<&str>) -> Result<Concat> {
    match raw.map(str::trim) {
        None => Ok(Concat::None),
        Some("partial") => Ok(Concat::Partial),
        Some(v) if v.starts_with("final;") => {
            let ids = v["final;".len()..]
                .split_whitespace()
                .map(|url| {
                    url.trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .and_then(|s| s.parse::<Uuid>().ok())
                        .ok_or_else(|| {
                            Error::invalid(format!(
                                "Upload-Concat names {url:?}, which is not an upload URL of this server"
                            ))
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            if ids.is_empty() {
                return Err(Error::invalid("Upload-Concat: final; lists no partial uploads"));
            }
            Ok(Concat::Final(ids))
        }
        Some(v) => Err(Error::invalid(format!(
            "Upload-Concat {v:?} must be 'partial' or 'final;<urls>'"
        ))),
    }
}

impl Concat {
    /// The kind, as the `uploads.concat` column stores it.
    pub fn kind(&self) -> ConcatKind {
        match self {
            Concat::None => ConcatKind::None,
            Concat::Partial => ConcatKind::Partial,
            Concat::Final(_) => ConcatKind::Final,
        }
    }
}

/// What a creation request (POST) says in its tus headers.
#[derive(Debug)]
pub struct CreateRequest {
    pub concat: Concat,
    /// `Upload-Metadata` as sent: stored so HEAD can echo it.
    pub raw_metadata: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// `Upload-Length`, or why it is unreadable. Never read for a final concatenation, whose length
    /// is its parts'. Whether it is required, and its error, are the handler's to report, after it
    /// has checked the metadata (the order clients have always seen).
    pub length: std::result::Result<Option<i64>, String>,
}

impl CreateRequest {
    /// Reads the headers in the order their errors take precedence.
    pub fn parse(h: &HeaderMap) -> Result<CreateRequest> {
        check_version(h)?;
        if h.contains_key("upload-defer-length") {
            return Err(Error::invalid(
                "Upload-Defer-Length is not supported: send Upload-Length",
            ));
        }
        let concat = concat(header(h, "upload-concat")?)?;
        let raw_metadata = header(h, "upload-metadata")?;
        let metadata = metadata(raw_metadata)?;
        let length = match concat {
            Concat::Final(_) => Ok(None),
            _ => number(h, "upload-length").map_err(|e| e.to_string()),
        };
        Ok(CreateRequest {
            raw_metadata: raw_metadata.map(str::to_owned),
            concat,
            metadata,
            length,
        })
    }
}

/// RFC 9110 date, as `Upload-Expires` wants it.
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_grammar() {
        let m = metadata(Some("task_id MTIz,slice_index MA==, flag ,filename YS5mbHY=")).unwrap();
        assert_eq!(m["task_id"], "123");
        assert_eq!(m["slice_index"], "0");
        assert_eq!(m["flag"], "");
        assert_eq!(m["filename"], "a.flv");
        assert!(metadata(Some("a MQ==,a Mg==")).is_err());
        assert!(metadata(Some("a !!!")).is_err());
    }

    #[test]
    fn concat_grammar() {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        assert_eq!(concat(Some("partial")).unwrap(), Concat::Partial);
        let v = format!("final;/localrecord/v1/uploads/{a} http://h:1/localrecord/v1/uploads/{b}");
        assert_eq!(concat(Some(&v)).unwrap(), Concat::Final(vec![a, b]));
        assert!(concat(Some("final;")).is_err());
        assert!(concat(Some("final;/x/y")).is_err());
        assert!(concat(Some("whole")).is_err());
    }

    #[test]
    fn create_request() {
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            h.insert("tus-resumable", VERSION.parse().unwrap());
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        let r = CreateRequest::parse(&headers(&[
            ("upload-length", "10"),
            ("upload-metadata", "task_id MTIz"),
        ]))
        .unwrap();
        assert_eq!(
            (r.length, r.concat, r.raw_metadata.as_deref()),
            (Ok(Some(10)), Concat::None, Some("task_id MTIz"))
        );
        assert_eq!(r.metadata["task_id"], "123");
        // A final concatenation's length is its parts': its Upload-Length is not even read.
        let a = Uuid::new_v4();
        let fin = format!("final;/localrecord/v1/uploads/{a}");
        let r = CreateRequest::parse(&headers(&[("upload-concat", &fin), ("upload-length", "x")])).unwrap();
        assert_eq!((r.length, r.concat), (Ok(None), Concat::Final(vec![a])));
        assert_eq!(CreateRequest::parse(&headers(&[])).unwrap().length, Ok(None));
        let bad = CreateRequest::parse(&headers(&[("upload-length", "-1")])).unwrap();
        assert_eq!(bad.length, Err("upload-length must be a non-negative integer".into()));
        assert!(CreateRequest::parse(&headers(&[("upload-defer-length", "1")])).is_err());
        let mut unversioned = headers(&[("upload-length", "10")]);
        unversioned.remove("tus-resumable");
        assert!(CreateRequest::parse(&unversioned).is_err());
    }
}
