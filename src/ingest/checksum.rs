//! The tus checksum extension (`Upload-Checksum: <md5|sha1> <base64 digest>`), and the MD5 every
//! part and slice gets recorded with.

use crate::http::error::Error;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest, Md5};
use sha1::Sha1;

pub const ALGORITHMS: &str = "md5,sha1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Md5,
    Sha1,
}

#[derive(Debug, Clone)]
pub struct Checksum {
    pub algo: Algo,
    pub expected: Vec<u8>,
}

impl Checksum {
    /// Parses an `Upload-Checksum` header value.
    pub fn parse(header: &str) -> Result<Checksum, Error> {
        let (algo, digest) = header
            .trim()
            .split_once(' ')
            .ok_or_else(|| Error::invalid("Upload-Checksum must be '<algorithm> <base64 digest>'"))?;
        let (algo, len) = match algo {
            "md5" => (Algo::Md5, 16),
            "sha1" => (Algo::Sha1, 20),
            other => {
                return Err(Error::invalid(format!(
                    "Upload-Checksum algorithm {other:?} is not supported; use one of {ALGORITHMS}"
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

    pub fn verify(&self, h: &Hashes) -> Result<(), Error> {
        let got = match self.algo {
            Algo::Md5 => h.md5.clone().finalize().to_vec(),
            Algo::Sha1 => h.sha1.clone().map(|s| s.finalize().to_vec()).unwrap_or_default(),
        };
        if got == self.expected {
            Ok(())
        } else {
            Err(Error::ChecksumMismatch(format!(
                "Upload-Checksum {:?} mismatch: expected {}, received bytes hash to {}; chunk discarded",
                self.algo,
                STANDARD.encode(&self.expected),
                STANDARD.encode(&got)
            )))
        }
    }
}

/// Running hashes of a chunk: MD5 always (recorded), SHA-1 only when the client asked for it.
#[derive(Clone)]
pub struct Hashes {
    md5: Md5,
    sha1: Option<Sha1>,
}

impl Hashes {
    pub fn new(extra: Option<Algo>) -> Hashes {
        Hashes {
            md5: Md5::new(),
            sha1: (extra == Some(Algo::Sha1)).then(Sha1::new),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        if let Some(s) = &mut self.sha1 {
            s.update(data);
        }
    }

    pub fn md5_hex(&self) -> String {
        hex::encode(self.md5.clone().finalize())
    }
}
