//! The format's promises on synthetic data: round trips at every size around chunk boundaries,
//! each kind of tampering refused with its own error, a cut file giving its whole-chunk prefix
//! and `Truncated`, the seekable reader agreeing with the stream, keys that never print.

use localrecord_crypt::*;
use std::io::{Cursor, Read, Seek, SeekFrom, Write};

const CS: u32 = 256;

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 256) as u8).collect()
}

fn encrypt(key: &Key, plain: &[u8]) -> Vec<u8> {
    let mut w = EncryptWriter::new(Vec::new(), key, CS).unwrap();
    // uneven writes
    for part in plain.chunks(100) {
        w.write_all(part).unwrap();
    }
    w.finish().unwrap()
}

/// Decrypts everything; the plaintext read before any error, and the error.
fn decrypt(key: &Key, file: &[u8]) -> (Vec<u8>, Option<Error>) {
    let mut r = match DecryptReader::new(file, key) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 77];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some(Error::into_crypt(e))),
        }
    }
}

#[test]
fn round_trips_at_every_size_around_chunk_boundaries() {
    let key = Key::generate();
    for n in [0, 1, 255, 256, 257, 511, 512, 513, 3000] {
        let plain = data(n);
        let file = encrypt(&key, &plain);
        assert_eq!(file.len() as u64, encrypted_len(n as u64, CS), "size {n}");
        assert_eq!(plaintext_len(file.len() as u64, CS), Some(n as u64));
        assert!(is_encrypted(&file));
        let (out, err) = decrypt(&key, &file);
        assert!(err.is_none(), "size {n}: {err:?}");
        assert_eq!(out, plain, "size {n}");
    }
}

#[test]
fn the_same_plaintext_encrypts_differently_each_time() {
    let key = Key::generate();
    assert_ne!(encrypt(&key, &data(1000)), encrypt(&key, &data(1000)));
}

#[test]
fn a_changed_byte_anywhere_is_refused() {
    let key = Key::generate();
    let file = encrypt(&key, &data(1000));
    for at in [HEADER_LEN + 5, HEADER_LEN + 272 + 100, 30, 12] {
        let mut bad = file.clone();
        bad[at] ^= 1;
        let (_, err) = decrypt(&key, &bad);
        let err = err.unwrap_or_else(|| panic!("byte {at} changed, yet it decrypted"));
        match at {
            12 => assert!(matches!(err, Error::BadHeader(_)), "{err}"),
            _ => assert!(matches!(err, Error::Corrupt { chunk: 0 | 1, .. }), "byte {at}: {err}"),
        }
    }
    // The last chunk changed: refused as not complete.
    let mut bad = file.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert!(matches!(
        decrypt(&key, &bad).1,
        Some(Error::Truncated { chunks: 3, .. })
    ));
}

#[test]
fn swapped_dropped_or_foreign_chunks_are_refused() {
    let key = Key::generate();
    let file = encrypt(&key, &data(1000));
    let c = |i: usize| HEADER_LEN + i * 272..HEADER_LEN + (i + 1) * 272;
    let mut swapped = file.clone();
    let first = file[c(0)].to_vec();
    swapped[c(0)].copy_from_slice(&file[c(1)]);
    swapped[c(1)].copy_from_slice(&first);
    let (out, err) = decrypt(&key, &swapped);
    assert!(out.is_empty());
    let err = err.unwrap();
    assert!(matches!(err, Error::Corrupt { chunk: 0, offset: 43 }), "{err}");
    assert!(err.to_string().contains("reordered"), "{err}");

    let mut dropped = file[..c(1).start].to_vec();
    dropped.extend_from_slice(&file[c(1).end..]);
    assert!(matches!(
        decrypt(&key, &dropped).1,
        Some(Error::Corrupt { chunk: 1, .. })
    ));

    let other = encrypt(&key, &data(1000));
    let mut mixed = file.clone();
    mixed[c(1)].copy_from_slice(&other[c(1)]);
    assert!(matches!(decrypt(&key, &mixed).1, Some(Error::Corrupt { chunk: 1, .. })));
}

#[test]
fn a_cut_file_gives_its_whole_chunks_and_says_truncated() {
    let key = Key::generate();
    let plain = data(1000);
    let file = encrypt(&key, &plain);
    for cut in [HEADER_LEN + 272, HEADER_LEN + 2 * 272 + 10, file.len() - 1] {
        let (out, err) = decrypt(&key, &file[..cut]);
        let whole = (cut - HEADER_LEN) / 272;
        assert_eq!(out, plain[..whole * 256], "cut at {cut}");
        match err {
            Some(Error::Truncated { chunks, plaintext, .. }) => {
                assert_eq!((chunks, plaintext), (whole as u64, whole as u64 * 256))
            }
            e => panic!("cut at {cut}: {e:?}"),
        }
    }
    // What a crash leaves: a writer dropped without finish.
    let mut w = EncryptWriter::new(Vec::new(), &key, CS).unwrap();
    w.write_all(&plain).unwrap();
    let crashed = w.get_ref().clone();
    drop(w);
    let (out, err) = decrypt(&key, &crashed);
    assert_eq!(out, plain[..768]);
    let err = err.unwrap();
    assert!(err.to_string().starts_with("truncated"), "{err}");
    for empty in [&[][..], &file[..20]] {
        assert!(matches!(
            decrypt(&key, empty).1,
            Some(Error::Truncated { chunks: 0, .. })
        ));
    }
}

#[test]
fn other_keys_and_other_files_are_told_apart() {
    let (key, other) = (Key::generate(), Key::generate());
    let file = encrypt(&key, &data(10));
    match decrypt(&other, &file).1 {
        Some(Error::WrongKey { file, given }) => {
            assert_eq!((file, given), (key.id(), other.id()))
        }
        e => panic!("{e:?}"),
    }
    assert!(matches!(
        decrypt(&key, b"FLV\x01\x05 plain video, long enough for a header").1,
        Some(Error::NotEncrypted)
    ));
    let mut v2 = file.clone();
    v2[8] = 2;
    assert!(matches!(
        decrypt(&key, &v2).1,
        Some(Error::Unsupported { version: 2, .. })
    ));
}

#[test]
fn the_seekable_reader_reads_any_range() {
    let key = Key::generate();
    let plain = data(3000);
    let file = encrypt(&key, &plain);
    let mut r = SeekableReader::new(Cursor::new(&file), &key).unwrap();
    assert_eq!(r.len(), 3000);
    for (from, n) in [(0, 10), (250, 20), (2999, 5), (1024, 1000), (3000, 3)] {
        r.seek(SeekFrom::Start(from)).unwrap();
        let mut out = Vec::new();
        r.by_ref().take(n).read_to_end(&mut out).unwrap();
        let end = (from + n).min(3000) as usize;
        assert_eq!(out, plain[from as usize..end], "{from}+{n}");
    }
    r.seek(SeekFrom::End(-1)).unwrap();
    let mut last = Vec::new();
    r.read_to_end(&mut last).unwrap();
    assert_eq!(last, plain[2999..]);

    let cut = &file[..file.len() - 20];
    assert!(matches!(
        SeekableReader::new(Cursor::new(cut), &key),
        Err(Error::Truncated { .. }) | Err(Error::Corrupt { .. })
    ));
    let mut bad = file.clone();
    bad[HEADER_LEN + 272 + 3] ^= 0x80;
    let mut r = SeekableReader::new(Cursor::new(&bad), &key).unwrap();
    r.seek(SeekFrom::Start(300)).unwrap();
    let e = r.read(&mut [0u8; 10]).unwrap_err();
    assert!(
        matches!(Error::from_io(&e), Some(Error::Corrupt { chunk: 1, .. })),
        "{e}"
    );
}

#[test]
fn seek_target_lands_where_a_cursor_seeks() {
    // std's Cursor is the reference: past the end allowed, before the start or over u64 refused.
    let len = 3000u64;
    let tos = [
        SeekFrom::Start(0),
        SeekFrom::Start(5000),
        SeekFrom::End(0),
        SeekFrom::End(-3000),
        SeekFrom::End(-3001),
        SeekFrom::End(7),
        SeekFrom::Current(-100),
        SeekFrom::Current(-101),
        SeekFrom::Current(i64::MAX),
    ];
    for pos in [0u64, 100, 3000, u64::MAX - 1] {
        for to in tos {
            let mut c = Cursor::new(vec![0u8; len as usize]);
            c.set_position(pos);
            let want = c.seek(to).ok();
            assert_eq!(seek_target(pos, to, len).ok(), want, "{pos} {to:?}");
        }
    }
    let e = seek_target(10, SeekFrom::Current(-11), len).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn keys_never_print_and_key_files_round_trip() {
    let key = Key::generate();
    let hex = secrecy::ExposeSecret::expose_secret(&key.to_hex()).to_owned();
    let shown = format!("{key:?} {:?} {}", key.clone(), key.id());
    assert!(!shown.contains(&hex) && !shown.contains(&hex[..16]), "{shown}");
    assert!(shown.contains(&key.id().to_string()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.key");
    key.write_file(&path, "test key").unwrap();
    assert!(key.write_file(&path, "again").is_err(), "never overwritten");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(Key::read_file(&path).unwrap().id(), key.id());
    std::fs::write(&path, "not a key\n").unwrap();
    let e = Key::read_file(&path).unwrap_err();
    assert!(!e.contains("not a key"), "{e}");
}
