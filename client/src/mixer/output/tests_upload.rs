//! Uploading outputs against a real HTTP server (axum on a loopback port): every slice arrives
//! byte for byte, retried after a failure; a server that keeps failing ends the output with
//! RECORDFILE_UPLOAD_FAILED and the local file and slices stay.

use super::super::types::{err, state, MixerOutput, OutputEnv, OutputSet};
use super::tests::file;
use super::tests_util::*;
use super::upload::UploadCfg;
use super::Outputs;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Server {
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    /// PUTs still to answer with 500.
    failures: Arc<AtomicUsize>,
}

/// Starts the receiver; returns its base URL (kept alive by the runtime).
fn serve(server: &Server, rt: &tokio::runtime::Runtime) -> String {
    async fn put(State(s): State<Server>, UrlPath(name): UrlPath<String>, body: axum::body::Bytes) -> StatusCode {
        let left = s.failures.load(Ordering::SeqCst);
        if left > 0 {
            s.failures.store(left - 1, Ordering::SeqCst);
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        s.files.lock().unwrap().insert(name, body.to_vec());
        StatusCode::CREATED
    }
    async fn get(State(s): State<Server>, UrlPath(name): UrlPath<String>) -> Result<Vec<u8>, StatusCode> {
        s.files.lock().unwrap().get(&name).cloned().ok_or(StatusCode::NOT_FOUND)
    }
    let app = axum::Router::new()
        .route("/up/{name}", axum::routing::put(put).get(get))
        .with_state(server.clone());
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/up")
}

fn uploading(path: &Path, url: &str) -> MixerOutput {
    let mut o = file(path);
    o.is_upload_on_recording = 1;
    o.server_path_file_name = Some(url.to_owned());
    o
}

fn spooled(spool: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for d in std::fs::read_dir(spool).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            out.insert(p.file_name().unwrap().to_string_lossy().into_owned(), p);
        }
    }
    out
}

fn cfg(attempts: u32) -> UploadCfg {
    UploadCfg {
        slice_secs: 1,
        attempts,
        first_backoff: Duration::from_millis(20),
        keep_uploaded: true,
    }
}

#[test]
fn every_slice_reaches_the_http_server_byte_for_byte_after_a_retry() {
    let d = dir("upload");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = Server::default();
    server.failures.store(1, Ordering::SeqCst);
    let url = serve(&server, &rt);
    let spool = d.join("spool");
    let (sink, events) = recorder();
    let mut enc = Encode::new(10);
    let env = OutputEnv {
        key: None,
        spool_dir: spool.clone(),
    };
    let mut set = Outputs::new("u".into(), env, sink);
    set.set_upload_cfg(cfg(3));
    let main = d.join("rec.mp4");
    set.add(&uploading(&main, &url), &enc.streams()).unwrap();
    enc.feed(&mut set, 55);
    set.close_all();
    let last = events.lock().unwrap().last().unwrap().output_info.clone();
    assert_eq!(last.state, state::CLOSED, "{last:?}");
    let local = spooled(&spool);
    let names: Vec<&String> = local.keys().collect();
    let want: Vec<String> = (0..6).map(|i| format!("rec.{i:05}.mp4")).collect();
    assert_eq!(names, want.iter().collect::<Vec<_>>());
    let got = server.files.lock().unwrap().clone();
    assert_eq!(got.keys().collect::<Vec<_>>(), names);
    let mut total = 0.0;
    for (name, path) in &local {
        assert_eq!(
            &std::fs::read(path).unwrap(),
            &got[name],
            "{name} differs on the server"
        );
        let v = probe(path).unwrap_or_else(|| panic!("{name} is not a readable mp4"));
        assert_eq!(codecs(&v), ["h264", "aac"]);
        total += duration_s(&v);
    }
    let whole = duration_s(&probe(&main).unwrap());
    assert!(
        (whole - 5.5).abs() <= 0.2 && (total - whole).abs() <= 0.3,
        "{total} s in slices, {whole} s in the file"
    );
}

#[test]
fn a_server_that_keeps_failing_ends_the_output_with_upload_failed_and_keeps_the_files() {
    let d = dir("upload-fail");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = Server::default();
    server.failures.store(usize::MAX, Ordering::SeqCst);
    let url = serve(&server, &rt);
    let spool = d.join("spool");
    let (sink, events) = recorder();
    let mut enc = Encode::new(10);
    let env = OutputEnv {
        key: None,
        spool_dir: spool.clone(),
    };
    let mut set = Outputs::new("u".into(), env, sink);
    set.set_upload_cfg(cfg(2));
    let main = d.join("rec.flv");
    set.add(&uploading(&main, &url), &enc.streams()).unwrap();
    enc.feed(&mut set, 30);
    set.close_all();
    let last = events.lock().unwrap().last().unwrap().output_info.clone();
    assert_eq!(
        (last.state, last.err_code),
        (state::ERROR, Some(err::RECORDFILE_UPLOAD_FAILED))
    );
    assert_eq!(last.file_size, std::fs::metadata(&main).unwrap().len());
    assert!((duration_s(&probe(&main).unwrap()) - 3.0).abs() <= 0.2);
    assert_eq!(spooled(&spool).len(), 3, "every slice stays in the spool");
    assert!(server.files.lock().unwrap().is_empty());
}
