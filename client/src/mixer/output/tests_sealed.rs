//! Encrypted outputs: unreadable as they are, playable once decrypted, and one changed byte
//! fails loudly.

use super::super::types::{err, state, OutputEnv, OutputSet};
use super::tests::file;
use super::tests_util::*;
use super::Outputs;
use localrecord_crypt::{DecryptReader, Key};
use std::io::Read;
use std::sync::Arc;

fn decrypt(bytes: &[u8], key: &Key) -> std::io::Result<Vec<u8>> {
    let mut r = DecryptReader::new(bytes, key).map_err(localrecord_crypt::Error::into_io_error)?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn encrypted_outputs_need_the_key_decrypt_to_playable_files_and_detect_a_changed_byte() {
    let d = dir("sealed");
    let key = Arc::new(Key::generate());
    let env = OutputEnv {
        key: Some(key.clone()),
        spool_dir: d.clone(),
        ..Default::default()
    };
    let (sink, events) = recorder();
    let mut enc = Encode::new(10);
    let mut set = Outputs::new("s".into(), env, sink);
    let names = ["e.flv", "e.ts", "e.mp4", "e.mp3"];
    for n in names {
        let mut o = file(&d.join(n));
        o.encrypt_type = 1;
        set.add(&o, &enc.streams()).unwrap();
    }
    let mut avi = file(&d.join("e.avi"));
    avi.encrypt_type = 1;
    assert_eq!(set.add(&avi, &enc.streams()).unwrap_err().code, err::PARAM_ERR);
    enc.feed(&mut set, 30);
    set.close_all();
    let ev = events.lock().unwrap().clone();
    for n in names {
        let p = d.join(n);
        assert!(!reveals_media(&p), "ffprobe read the encrypted {n}");
        let sealed = std::fs::read(&p).unwrap();
        let last = ev.iter().rev().find(|e| e.name_or_url == p.to_string_lossy()).unwrap();
        assert_eq!(
            (last.output_info.state, last.output_info.file_size),
            (state::CLOSED, sealed.len() as u64)
        );
        let plain = d.join(format!("plain-{n}"));
        std::fs::write(&plain, decrypt(&sealed, &key).unwrap()).unwrap();
        let v = probe(&plain).unwrap_or_else(|| panic!("ffprobe cannot read the decrypted {n}"));
        let want = if n.ends_with("mp3") {
            vec!["mp3"]
        } else {
            vec!["h264", "aac"]
        };
        assert_eq!(codecs(&v), want, "{n}");
        assert!((duration_s(&v) - 3.0).abs() <= 0.2, "{n}: {} s", duration_s(&v));
        assert_eq!(decode_errors(&plain), "", "{n}");
        let mut bad = sealed.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x01;
        assert!(decrypt(&bad, &key).is_err(), "{n}: a changed byte went unnoticed");
        assert!(
            decrypt(&sealed, &Key::generate()).is_err(),
            "{n}: another key opened it"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_encrypted_uploading_output_sends_encrypted_slices_that_decrypt_to_playable_files() {
    use super::tests_upload::{cfg, serve, spooled, uploading, Server};
    let d = dir("sealed-upload");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = Server::default();
    let url = serve(&server, &rt);
    let key = Arc::new(Key::generate());
    let env = OutputEnv {
        key: Some(key.clone()),
        spool_dir: d.join("spool"),
        ..Default::default()
    };
    let (sink, events) = recorder();
    let mut enc = Encode::new(10);
    let mut set = Outputs::new("su".into(), env, sink);
    set.set_upload_cfg(cfg(3));
    let mut o = uploading(&d.join("sec.flv"), &url);
    o.encrypt_type = 1;
    set.add(&o, &enc.streams()).unwrap();
    enc.feed(&mut set, 20);
    set.close_all();
    assert_eq!(events.lock().unwrap().last().unwrap().output_info.state, state::CLOSED);
    assert_eq!(spooled(&d.join("spool")).len(), 2);
    let got = server.files.lock().unwrap().clone();
    assert_eq!(got.keys().collect::<Vec<_>>(), ["sec.00000.flv", "sec.00001.flv"]);
    for (name, sealed) in &got {
        assert!(
            localrecord_crypt::is_encrypted(sealed),
            "{name} reached the server in the clear"
        );
        let plain = d.join(format!("plain-{name}"));
        std::fs::write(&plain, decrypt(sealed, &key).unwrap()).unwrap();
        let v = probe(&plain).unwrap();
        assert_eq!(codecs(&v), ["h264", "aac"]);
        assert!((duration_s(&v) - 1.0).abs() <= 0.15, "{name}: {} s", duration_s(&v));
    }
    let _ = std::fs::remove_dir_all(&d);
}
