//! Checking a chunk against the checksum its client sent (the header is parsed in `http::tus`), and
//! the MD5 every part and slice gets recorded with.

use super::error::Error;
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
    /// Checks a digest computed elsewhere (of the same algorithm).
    pub fn verify_digest(&self, got: &[u8]) -> Result<(), Error> {
        if got == self.expected {
            Ok(())
        } else {
            Err(Error::ChecksumMismatch(format!(
                "Upload-Checksum {:?} mismatch: expected {}, received bytes hash to {}; chunk discarded",
                self.algo,
                STANDARD.encode(&self.expected),
                STANDARD.encode(got)
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

    /// The digest in `algo` (empty for SHA-1 when it was not asked for).
    pub fn digest(&self, algo: Algo) -> Vec<u8> {
        match algo {
            Algo::Md5 => self.md5.clone().finalize().to_vec(),
            Algo::Sha1 => self.sha1.clone().map(|s| s.finalize().to_vec()).unwrap_or_default(),
        }
    }

    pub fn md5_hex(&self) -> String {
        hex::encode(self.md5.clone().finalize())
    }
}

/// The MD5 of an upload's committed bytes, carried from PATCH to PATCH (and from instance to
/// instance) as a serialized state in Postgres, so the slice's MD5 is ready when its last byte
/// arrives without reading a byte twice.
#[derive(Clone, Default)]
pub struct RunningMd5(pub super::md5::Md5);

impl RunningMd5 {
    /// Continues from a state made by [`RunningMd5::state`]; `None` starts from zero bytes.
    pub fn resume(state: Option<&[u8]>) -> Result<RunningMd5, Error> {
        let Some(bytes) = state else {
            return Ok(RunningMd5::default());
        };
        super::md5::Md5::from_bytes(bytes).map(RunningMd5).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "stored MD5 state of {} bytes is unreadable",
                bytes.len()
            ))
        })
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The serialized state (24 to 87 bytes), for [`RunningMd5::resume`].
    pub fn state(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    pub fn digest(&self) -> [u8; 16] {
        self.0.digest()
    }

    pub fn hex(&self) -> String {
        self.0.hex()
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_md5_resumed_from_its_state_equals_the_md5_of_all_bytes() {
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i * 7 + i / 251) as u8).collect();
        for cuts in [vec![], vec![0], vec![1, 63, 64, 65], vec![4096, 500_000, 999_999]] {
            let mut state: Option<Vec<u8>> = None;
            let mut from = 0;
            for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
                let mut h = RunningMd5::resume(state.as_deref()).unwrap();
                h.update(&data[from..cut]);
                state = Some(h.state());
                from = cut;
            }
            let h = RunningMd5::resume(state.as_deref()).unwrap();
            assert_eq!(h.hex(), hex::encode(Md5::digest(&data)), "cuts {cuts:?}");
        }
        assert_eq!(
            RunningMd5::resume(None).unwrap().hex(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert!(RunningMd5::resume(Some(&[1, 2, 3])).is_err());
    }
}
