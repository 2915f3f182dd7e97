//! Sealing and opening one chunk: nonce = prefix ‖ u32 index ‖ last flag, header as AAD.

use crate::header::PREFIX_LEN;
use crate::{Error, Header, Key, HEADER_LEN, TAG_LEN};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

pub(crate) struct Cipher {
    aead: XChaCha20Poly1305,
    header: [u8; HEADER_LEN],
    prefix: [u8; PREFIX_LEN],
    pub chunk_size: u32,
}

impl Cipher {
    pub fn new(key: &Key, header: &Header) -> Cipher {
        Cipher {
            aead: XChaCha20Poly1305::new(key.bytes().into()),
            header: header.to_bytes(),
            prefix: header.nonce_prefix,
            chunk_size: header.chunk_size,
        }
    }

    /// Bytes of a whole (not last) chunk on disk.
    pub fn sealed_len(&self) -> usize {
        self.chunk_size as usize + TAG_LEN
    }

    fn nonce(&self, index: u64, last: bool) -> Result<XNonce, Error> {
        let index = u32::try_from(index).map_err(|_| Error::TooLong)?;
        let mut n = [0u8; 24];
        n[..PREFIX_LEN].copy_from_slice(&self.prefix);
        n[PREFIX_LEN..23].copy_from_slice(&index.to_be_bytes());
        n[23] = last as u8;
        Ok(n.into())
    }

    /// Encrypts `buf` in place and appends the tag.
    pub fn seal(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> Result<(), Error> {
        let tag = self
            .aead
            .encrypt_in_place_detached(&self.nonce(index, last)?, &self.header, buf)
            .map_err(|_| Error::TooLong)?;
        buf.extend_from_slice(&tag);
        Ok(())
    }

    /// Checks and decrypts a sealed chunk in place, leaving the plaintext in `buf`. False (and
    /// `buf` unspecified) if it does not authenticate as chunk `index` with this `last` flag.
    pub fn open(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> Result<bool, Error> {
        let Some(at) = buf.len().checked_sub(TAG_LEN) else {
            return Ok(false);
        };
        let tag = Tag::clone_from_slice(&buf[at..]);
        buf.truncate(at);
        let nonce = self.nonce(index, last)?;
        Ok(self
            .aead
            .decrypt_in_place_detached(&nonce, &self.header, buf, &tag)
            .is_ok())
    }

    /// Where chunk `index` starts in the file.
    pub fn offset(&self, index: u64) -> u64 {
        HEADER_LEN as u64 + index * self.sealed_len() as u64
    }
}
