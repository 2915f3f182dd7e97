//! Uploading outputs against a real HTTP server (axum on a loopback port): every slice arrives
//! byte for byte, retried after a failure; a server that keeps failing ends the output with
//! RECORDFILE_UPLOAD_FAILED and the local file and slices stay.

use super::super::types::{err, state, MixerOutput, OutputEnv, OutputInfo, OutputSet};
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
pub struct Server {
    pub files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    /// PUTs still to answer with 500.
    failures: Arc<AtomicUsize>,
}

/// Starts the receiver; returns its base URL (kept alive by the runtime).
pub fn serve(server: &Server, rt: &tokio::runtime::Runtime) -> String {
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

pub fn uploading(path: &Path, url: &str) -> MixerOutput {
    let mut o = file(path);
    o.is_upload_on_recording = 1;
    o.server_path_file_name = Some(url.to_owned());
    o
}

pub fn spooled(spool: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for d in std::fs::read_dir(spool).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            out.insert(p.file_name().unwrap().to_string_lossy().into_owned(), p);
        }
    }
    out
}

pub fn cfg(attempts: u32) -> UploadCfg {
    UploadCfg {
        slice_secs: 1,
        attempts,
        first_backoff: Duration::from_millis(20),
        tus_chunk: 4 << 20,
        keep_uploaded: true,
        s3: None,
    }
}

/// Records `frames` frames into an output `main` uploading to `url` (its slices spooled under
/// `spool`), closes it and returns its last event.
pub fn record_uploading(main: &Path, url: &str, spool: &Path, c: UploadCfg, frames: u64) -> OutputInfo {
    let (sink, events) = recorder();
    let mut enc = Encode::new(10);
    let env = OutputEnv {
        key: None,
        spool_dir: spool.to_owned(),
        ..Default::default()
    };
    let mut set = Outputs::new("u".into(), env, sink);
    set.set_upload_cfg(c);
    set.add(&uploading(main, url), &enc.streams()).unwrap();
    enc.feed(&mut set, frames);
    set.close_all();
    let last = events.lock().unwrap().last().unwrap().output_info.clone();
    last
}

#[test]
fn every_slice_reaches_the_http_server_byte_for_byte_after_a_retry() {
    let d = dir("upload");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = Server::default();
    server.failures.store(1, Ordering::SeqCst);
    let url = serve(&server, &rt);
    let spool = d.join("spool");
    let main = d.join("rec.mp4");
    let last = record_uploading(&main, &url, &spool, cfg(3), 55);
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
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_server_that_keeps_failing_ends_the_output_with_upload_failed_and_keeps_the_files() {
    let d = dir("upload-fail");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = Server::default();
    server.failures.store(usize::MAX, Ordering::SeqCst);
    let url = serve(&server, &rt);
    let spool = d.join("spool");
    let main = d.join("rec.flv");
    let last = record_uploading(&main, &url, &spool, cfg(2), 30);
    assert_eq!(
        (last.state, last.err_code),
        (state::ERROR, Some(err::RECORDFILE_UPLOAD_FAILED))
    );
    assert_eq!(last.file_size, std::fs::metadata(&main).unwrap().len());
    assert!((duration_s(&probe(&main).unwrap()) - 3.0).abs() <= 0.2);
    assert_eq!(spooled(&spool).len(), 3, "every slice stays in the spool");
    assert!(server.files.lock().unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&d);
}

/// s3s-fs (a real S3 server checking SigV4) on a free port over `root`; killed on drop.
struct S3Fs(std::process::Child);

impl Drop for S3Fs {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn s3s_fs(root: &Path) -> (S3Fs, String) {
    let bin = std::env::var_os("S3S_FS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo/bin/s3s-fs"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(&bin)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            "AK",
            "--secret-key",
            "SK",
        ])
        .arg(root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (deploy/localrecord.sh test installs s3s-fs)", bin.display()));
    let guard = S3Fs(child);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (guard, format!("http://127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("s3s-fs did not start");
}

#[test]
fn every_slice_reaches_an_s3_bucket_byte_for_byte() {
    let d = dir("upload-s3");
    let root = d.join("s3");
    std::fs::create_dir_all(root.join("rec-bucket")).unwrap();
    let (_s3, endpoint) = s3s_fs(&root);
    let spool = d.join("spool");
    let mut c = cfg(3);
    c.s3 = Some(super::upload::S3Settings {
        endpoint: Some(endpoint),
        region: "us-east-1".into(),
        access_key_id: "AK".into(),
        secret_access_key: "SK".into(),
    });
    let main = d.join("cam.ts");
    let last = record_uploading(&main, "s3://rec-bucket/class/7", &spool, c, 25);
    assert_eq!(last.state, state::CLOSED);
    let local = spooled(&spool);
    assert_eq!(
        local.keys().collect::<Vec<_>>(),
        ["cam.00000.ts", "cam.00001.ts", "cam.00002.ts"]
    );
    for (name, path) in &local {
        let stored = std::fs::read(root.join("rec-bucket/class/7").join(name)).unwrap();
        assert_eq!(std::fs::read(path).unwrap(), stored, "{name} differs in the bucket");
    }
    let _ = std::fs::remove_dir_all(&d);
}
