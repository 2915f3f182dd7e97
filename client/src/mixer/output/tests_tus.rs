//! Uploading outputs against a real tus server (@tus/server 2 + @tus/file-store 2 under node):
//! every slice arrives byte for byte under its name; a connection cut mid-PATCH (by a TCP proxy
//! of ours) resumes from the server's offset instead of sending the slice again; an upload the
//! server no longer knows starts over. The plain-PUT path is tests_upload.rs's.

use super::super::types::state;
use super::tests_tus_util::{cut_proxy, stored, tus_server, Cut, Node};
use super::tests_upload::{cfg, record_uploading, spooled};
use super::tests_util::dir;
use super::tus_target::{discover, Resume};
use super::upload::Uploader;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// `n` bytes no compression or coincidence makes look alike (xorshift).
fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn every_slice_reaches_a_tus_server_byte_for_byte_under_its_name() {
    let d = dir("tus");
    let files = d.join("tus-files");
    let (_node, base) = tus_server(&files, false);
    let spool = d.join("spool");
    let mut c = cfg(3);
    c.tus_chunk = 4 << 10; // several PATCHes per slice
    let last = record_uploading(&d.join("rec.mp4"), &base, &spool, c, 35);
    assert_eq!(last.state, state::CLOSED, "{last:?}");
    let local = spooled(&spool);
    let want: Vec<String> = (0..4).map(|i| format!("rec.{i:05}.mp4")).collect();
    assert_eq!(local.keys().collect::<Vec<_>>(), want.iter().collect::<Vec<_>>());
    let got = stored(&files);
    assert_eq!(got.keys().collect::<Vec<_>>(), local.keys().collect::<Vec<_>>());
    for (name, path) in &local {
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.len() > 4 << 10, "{name}: {} bytes, one PATCH", bytes.len());
        assert_eq!(bytes, got[name], "{name} differs on the tus server");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// A tus server in `d/tus-files` behind a proxy cutting at `cut_at`, and a slice of noise.
struct CutCase {
    d: PathBuf,
    rt: tokio::runtime::Runtime,
    _node: Node,
    proxy: Arc<Cut>,
    /// The creation URL through the proxy.
    via: String,
    slice: PathBuf,
    data: Vec<u8>,
}

fn cut_case(test: &str, relative: bool, name: &str, size: usize, cut_at: u64) -> CutCase {
    let d = dir(test);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (node, base) = tus_server(&d.join("tus-files"), relative);
    let (proxy, via) = cut_proxy(&rt, &base, cut_at);
    let slice = d.join(name);
    let data = noise(size);
    std::fs::write(&slice, &data).unwrap();
    CutCase {
        d,
        rt,
        _node: node,
        proxy,
        via,
        slice,
        data,
    }
}

#[test]
fn a_connection_cut_mid_patch_resumes_from_the_servers_offset() {
    let size: usize = 6 << 20;
    let cut_at: usize = 7 << 19; // 3.5 MiB: inside the fourth 1 MiB PATCH
                                 // Relative Locations (`/files/ID`), resolved against the creation URL.
    let t = cut_case("tus-cut", true, "big.00000.mp4", size, cut_at as u64);
    let mut c = cfg(3);
    c.tus_chunk = 1 << 20;
    let up = Uploader::start(&t.via, c).unwrap();
    up.send(t.slice.clone());
    up.finish().unwrap();
    assert!(t.proxy.done.load(Ordering::SeqCst), "the proxy never cut");
    let got = stored(&t.d.join("tus-files"));
    assert_eq!(got.keys().collect::<Vec<_>>(), ["big.00000.mp4"], "one upload, resumed");
    assert!(got["big.00000.mp4"] == t.data, "the slice differs on the tus server");
    assert!(t.slice.exists(), "keep_uploaded");
    // Sending it again from 0 would forward cut_at + size; resuming, about size.
    let forwarded = t.proxy.forwarded.load(Ordering::SeqCst);
    assert!(
        forwarded < (size + cut_at / 2) as u64 && forwarded < 2 * size as u64,
        "{forwarded} bytes forwarded for a {size}-byte slice cut at {cut_at}"
    );
    let _ = std::fs::remove_dir_all(&t.d);
}

#[test]
fn an_upload_the_server_no_longer_knows_starts_over() {
    let size = 3 << 20;
    let t = cut_case("tus-gone", false, "gone.00000.ts", size, 2 << 20);
    let client = reqwest::Client::new();
    let slice = (t.slice.as_path(), "gone.00000.ts", size as u64);
    t.rt.block_on(async {
        let tus = discover(&client, &t.via)
            .await
            .unwrap()
            .expect("@tus/server speaks tus");
        let mut r = Resume::default();
        tus.send(&client, slice, 1 << 20, &mut r).await.unwrap_err();
        assert!(t.proxy.done.load(Ordering::SeqCst));
        let url = r.url.clone().expect("the upload was created");
        // Termination: the server forgets the upload, as an expiry would.
        let gone = client
            .delete(url.clone())
            .header("tus-resumable", "1.0.0")
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), 204);
        tus.send(&client, slice, 1 << 20, &mut r).await.unwrap();
        assert_ne!(r.url, Some(url), "a new upload");
    });
    let got = stored(&t.d.join("tus-files"));
    assert_eq!(got.keys().collect::<Vec<_>>(), ["gone.00000.ts"]);
    assert!(got["gone.00000.ts"] == t.data, "the slice differs on the tus server");
    let _ = std::fs::remove_dir_all(&t.d);
}
