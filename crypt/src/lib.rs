//! localrecord's encrypted recording format (version 1), shared by the server and the recorder.
//!
//! A file is a 43-byte header followed by chunks. Every chunk is the XChaCha20-Poly1305
//! encryption of a fixed-size piece of the plaintext, with the STREAM construction (Hoang,
//! Reyhanitabar, Rogaway, Vizár 2015) making each chunk's nonce from a random per-file prefix,
//! the chunk's index and a last-chunk flag, and with the header as associated data of every chunk.
//! So a changed byte anywhere (header included), a reordered, dropped, duplicated or foreign chunk,
//! and a cut-off end are all detected, while a file cut by a crash still decrypts, chunk by chunk,
//! up to its last whole chunk and is reported as truncated, never as complete.
//!
//! Header (all integers big-endian):
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 8 | magic `LRCRYPT\0` (`4c 52 43 52 59 50 54 00`) |
//! | 8 | 1 | format version, 1 |
//! | 9 | 1 | algorithm, 1 = XChaCha20-Poly1305 |
//! | 10 | 2 | reserved, 0 |
//! | 12 | 4 | chunk size S: plaintext bytes per chunk, 256 ..= 16 MiB |
//! | 16 | 8 | key id: the first 8 bytes of SHA-256(`"localrecord-crypt key id\0"` ‖ key) |
//! | 24 | 19 | nonce prefix, random per file |
//!
//! Chunk i (from 0) is `ciphertext ‖ tag` (16-byte Poly1305 tag), sealed with the 32-byte key,
//! nonce `prefix (19) ‖ u32 i ‖ flag (1)` where flag is 1 on the last chunk and 0 on every other,
//! and the 43 header bytes as associated data. Every chunk but the last holds exactly S plaintext
//! bytes (S + 16 on disk); the last holds 0 ..= S - 1 (so a plaintext whose length is a multiple of S
//! ends with an empty last chunk of 16 bytes). Hence a file of L bytes is complete only if
//! `(L - 43) mod (S + 16) >= 16`, and its plaintext is `L - 43 - 16 * ceil((L - 43) / (S + 16))` bytes.
//! A crash before the last chunk leaves whole chunks (and maybe a torn one): [`Error::Truncated`].

mod chunk;
mod error;
mod header;
mod key;
mod read;
mod seek;
mod write;

pub use error::Error;
pub use header::{Header, ALGORITHM, HEADER_LEN, MAGIC, VERSION};
pub use key::{Key, KeyId, KEY_LEN};
pub use read::DecryptReader;
pub use seek::{seek_target, SeekableReader};
pub use write::EncryptWriter;

/// Bytes a chunk's tag adds.
pub const TAG_LEN: usize = 16;
/// The chunk size writers use unless told otherwise.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
pub const MIN_CHUNK_SIZE: u32 = 256;
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;

/// Whether `start` (a file's first bytes, at least 8) begins with the format's magic.
pub fn is_encrypted(start: &[u8]) -> bool {
    start.starts_with(&MAGIC)
}

/// The size on disk of a complete file holding `plain` bytes in chunks of `chunk_size`.
pub fn encrypted_len(plain: u64, chunk_size: u32) -> u64 {
    let chunks = plain / chunk_size as u64 + 1;
    HEADER_LEN as u64 + plain + chunks * TAG_LEN as u64
}

/// The plaintext length of a complete file of `len` bytes, or None if that length cannot be a
/// complete file (it was cut).
pub fn plaintext_len(len: u64, chunk_size: u32) -> Option<u64> {
    let body = len.checked_sub(HEADER_LEN as u64)?;
    let full = chunk_size as u64 + TAG_LEN as u64;
    let (n, rest) = (body / full, body % full);
    (rest >= TAG_LEN as u64).then(|| n * chunk_size as u64 + rest - TAG_LEN as u64)
}
