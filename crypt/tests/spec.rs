//! The README's byte-by-byte description of the format, followed literally by a reader written
//! from it (offsets, key id, nonce layout, associated data, chunk sizes) with the raw
//! XChaCha20-Poly1305 AEAD and SHA-256 only: a player written from the README reads what the
//! crate writes.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::XChaCha20Poly1305;
use sha2::{Digest, Sha256};
use std::io::Write;

/// Decrypts a complete file as the README says, or panics.
fn readme_reader(key: &[u8; 32], file: &[u8]) -> Vec<u8> {
    let header = &file[..43];
    assert_eq!(&header[0..8], b"LRCRYPT\0");
    assert_eq!((header[8], header[9], &header[10..12]), (1, 1, &[0u8, 0][..]));
    let s = u32::from_be_bytes(header[12..16].try_into().unwrap()) as usize;
    let id = Sha256::new()
        .chain_update(b"localrecord-crypt key id")
        .chain_update([0u8])
        .chain_update(key)
        .finalize();
    assert_eq!(&header[16..24], &id[..8], "key id");
    let prefix = &header[24..43];
    let aead = XChaCha20Poly1305::new(key.into());
    let (mut out, mut at, mut i) = (Vec::new(), 43, 0u32);
    loop {
        let rest = file.len() - at;
        let last = rest < s + 16;
        let n = if last { rest } else { s + 16 };
        let mut nonce = prefix.to_vec();
        nonce.extend_from_slice(&i.to_be_bytes());
        nonce.push(last as u8);
        let msg = Payload {
            msg: &file[at..at + n],
            aad: header,
        };
        out.extend(aead.decrypt(nonce.as_slice().into(), msg).expect("chunk opens"));
        at += n;
        i += 1;
        if last {
            assert_eq!(at, file.len());
            return out;
        }
    }
}

#[test]
fn a_reader_written_from_the_readme_reads_what_the_crate_writes() {
    let hex_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let key = localrecord_crypt::Key::from_hex(hex_key).unwrap();
    let raw: [u8; 32] = core::array::from_fn(|i| i as u8);
    for n in [0usize, 100, 256, 700, 768] {
        let plain: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let mut w = localrecord_crypt::EncryptWriter::new(Vec::new(), &key, 256).unwrap();
        w.write_all(&plain).unwrap();
        let file = w.finish().unwrap();
        assert_eq!(readme_reader(&raw, &file), plain, "{n} bytes");
        // The README's length formulas.
        let body = (file.len() - 43) as u64;
        assert!(body % 272 >= 16);
        assert_eq!(body - 16 * body.div_ceil(272), n as u64);
    }
}
