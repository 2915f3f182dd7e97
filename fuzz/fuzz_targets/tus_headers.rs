//! The tus header grammar (src/http/tus.rs), the Upload-Checksum header (src/ingest/checksum.rs)
//! and the Range header of recording downloads (src/http/ranged.rs), all on the same input:
//! as a &str where the parser takes one, and as a header value (raw bytes, obs-text included)
//! where it reads a HeaderMap. Never a panic; what parses keeps its invariants.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use localrecord::http::ranged::range;
use localrecord::http::tus::{check_version, concat, header, metadata, number, Concat};
use localrecord::ingest::checksum::{Algo, Checksum, Hashes};

fn text_parsers(s: &str) {
    if let Ok(md) = metadata(Some(s)) {
        for k in md.keys() {
            assert!(
                !k.is_empty() && !k.contains(char::is_whitespace) && !k.contains(','),
                "key {k:?}"
            );
        }
    }
    if let Ok(Concat::Final(ids)) = concat(Some(s)) {
        assert!(!ids.is_empty());
    }
    if let Ok(c) = Checksum::parse(s) {
        let len = match c.algo {
            Algo::Md5 => 16,
            Algo::Sha1 => 20,
        };
        assert_eq!(c.expected.len(), len);
        let mut h = Hashes::new(Some(c.algo));
        h.update(s.as_bytes());
        let _ = c.verify(&h);
        let _ = h.md5_hex();
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        text_parsers(s);
    }

    let Ok(v) = HeaderValue::from_bytes(data) else { return };
    let mut h = HeaderMap::new();
    for name in ["tus-resumable", "upload-length", "upload-metadata", "range"] {
        h.insert(name, v.clone());
    }
    let _ = check_version(&h);
    if let Ok(Some(n)) = number(&h, "upload-length") {
        assert!(n >= 0);
    }
    if let Ok(Some(s)) = header(&h, "upload-metadata") {
        text_parsers(s);
    }
    for size in [0, 1, 2, 100, data.len() as u64, u64::MAX - 1, u64::MAX] {
        if let Ok(Some((start, end))) = range(&h, size) {
            assert!(start <= end && end < size, "{start}-{end}/{size}");
        }
    }
});
