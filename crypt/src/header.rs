//! The 43-byte header (see the crate docs for the table).

use crate::{Error, Key, KeyId, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};

pub const MAGIC: [u8; 8] = *b"LRCRYPT\0";
pub const VERSION: u8 = 1;
/// XChaCha20-Poly1305.
pub const ALGORITHM: u8 = 1;
pub const HEADER_LEN: usize = 43;
pub(crate) const PREFIX_LEN: usize = 19;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub chunk_size: u32,
    pub key_id: KeyId,
    pub nonce_prefix: [u8; PREFIX_LEN],
}

impl Header {
    /// A header for a new file: a fresh random nonce prefix.
    pub fn new(key: &Key, chunk_size: u32) -> Result<Header, Error> {
        check_chunk_size(chunk_size)?;
        let mut nonce_prefix = [0u8; PREFIX_LEN];
        getrandom::getrandom(&mut nonce_prefix).map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
        Ok(Header {
            chunk_size,
            key_id: key.id(),
            nonce_prefix,
        })
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8] = VERSION;
        b[9] = ALGORITHM;
        b[12..16].copy_from_slice(&self.chunk_size.to_be_bytes());
        b[16..24].copy_from_slice(&self.key_id.0);
        b[24..].copy_from_slice(&self.nonce_prefix);
        b
    }

    /// Parses a header; `key`, when given, must be the one it names.
    pub fn parse(b: &[u8; HEADER_LEN], key: Option<&Key>) -> Result<Header, Error> {
        if b[..8] != MAGIC {
            return Err(Error::NotEncrypted);
        }
        if (b[8], b[9]) != (VERSION, ALGORITHM) {
            return Err(Error::Unsupported {
                version: b[8],
                algorithm: b[9],
            });
        }
        if b[10..12] != [0, 0] {
            return Err(Error::BadHeader("reserved bytes are not zero"));
        }
        let chunk_size = u32::from_be_bytes(b[12..16].try_into().expect("4 bytes"));
        check_chunk_size(chunk_size)?;
        let key_id = KeyId(b[16..24].try_into().expect("8 bytes"));
        if let Some(k) = key.filter(|k| k.id() != key_id) {
            return Err(Error::WrongKey {
                file: key_id,
                given: k.id(),
            });
        }
        Ok(Header {
            chunk_size,
            key_id,
            nonce_prefix: b[24..].try_into().expect("19 bytes"),
        })
    }

    /// Reads and parses the header at the start of `r`.
    pub fn read_from(r: &mut impl std::io::Read, key: Option<&Key>) -> Result<Header, Error> {
        let mut b = [0u8; HEADER_LEN];
        let n = crate::read::read_full(r, &mut b)?;
        if n < HEADER_LEN {
            // An empty file, or a cut header: a writer that crashed at once.
            return Err(if b[..n.min(8)] == MAGIC[..n.min(8)] {
                Error::Truncated {
                    chunks: 0,
                    plaintext: 0,
                    dropped: n as u64,
                }
            } else {
                Error::NotEncrypted
            });
        }
        Header::parse(&b, key)
    }
}

fn check_chunk_size(s: u32) -> Result<(), Error> {
    if (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&s) {
        Ok(())
    } else {
        Err(Error::BadHeader("chunk size out of range (256 bytes ..= 16 MiB)"))
    }
}
