//! What the recorder tests share: a recorder on a temp data dir, the recorder binary, a TCP proxy
//! that can play "network down", and waiting for the server to splice.

use crate::helpers::*;
use localrecord_client::capture::{AudioSource, VideoSource};
use localrecord_client::recorder::{Recorder, Settings, StartParams};
use localrecord_client::server::Credentials;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub fn settings(server: &str, dir: &Path) -> Settings {
    Settings {
        server: server.to_owned(),
        data_dir: dir.to_owned(),
        video: VideoSource::Test {
            width: 640,
            height: 360,
        },
        audio: AudioSource::Tone,
        parallel_uploads: 3,
        min_free_bytes: 0,
        upload: localrecord_client::upload::Options {
            chunk_size: 512 * 1024,
            // The queue retries on its own schedule; fewer in-place attempts keep tests short.
            attempts: 3,
            ..Default::default()
        },
        ..Default::default()
    }
}

pub fn creds(app: &TestApp, user: &str) -> Credentials {
    Credentials {
        sdk_app_id: SDKAPPID as u64,
        user_id: user.into(),
        user_sig: app.usersig(user),
    }
}

/// StartRecord for a class with slices of `slice_time` seconds, the rest the seed's defaults.
pub fn params(class_id: i64, slice_time: u32) -> StartParams {
    StartParams {
        class_id: Some(class_id),
        slice_time: Some(slice_time),
        ..Default::default()
    }
}

/// A recorder (synthetic source, tone) that passed Init against `server` as alice.
pub async fn recorder(app: &TestApp, server: &str, dir: &Path) -> Arc<Recorder> {
    let rec = Recorder::open(settings(server, dir)).unwrap();
    rec.init(creds(app, "alice")).await.unwrap();
    rec
}

/// Waits until the recorder has every slice of `task` confirmed and the stop accepted.
pub async fn wait_uploaded(rec: &Recorder, task: &str, secs: u64) {
    for _ in 0..secs * 10 {
        if rec.uploader().is_done(task) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "task {task} not uploaded after {secs} s: {:?}",
        rec.uploader().views(None)
    );
}

/// Polls the server until the task is spliced.
pub async fn wait_done(app: &TestApp, task: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        last = app.task_status("alice", task).await;
        if last["State"] == "done" && last["VideoOutputUrl"].is_string() {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("task never spliced: {last}");
}

/// Downloads the task's MP4 into `dir`.
pub async fn download_mp4(app: &TestApp, status: &Value, dir: &Path) -> PathBuf {
    let url = status["VideoOutputUrl"].as_str().unwrap();
    let body = app.client.get(url).send().await.unwrap().bytes().await.unwrap();
    let path = dir.join("out.mp4");
    std::fs::write(&path, &body).unwrap();
    path
}

/// A stored slice, written out for ffprobe.
pub async fn stored_slice_file(app: &TestApp, task: &str, index: i32, dir: &Path) -> PathBuf {
    let data = app.stored_slice(task, index).await.expect("slice stored");
    let path = dir.join(format!("stored-{index}.flv"));
    std::fs::write(&path, data).unwrap();
    path
}

/// The `localrecord-recorder` binary, built (once per test run) if cargo has not yet.
pub fn recorder_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let st = std::process::Command::new(cargo)
                .args([
                    "build",
                    "-q",
                    "-p",
                    "localrecord-client",
                    "--bin",
                    "localrecord-recorder",
                ])
                .status()
                .expect("cargo runs");
            assert!(st.success(), "building localrecord-recorder failed");
            let exe = std::env::current_exe().unwrap();
            let bin = exe.parent().unwrap().parent().unwrap().join("localrecord-recorder");
            assert!(bin.exists(), "{} missing", bin.display());
            bin
        })
        .clone()
}

/// A TCP proxy in front of the server that can refuse and cut connections, like a network outage.
pub struct Proxy {
    pub base: String,
    down: Arc<AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(upstream: std::net::SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let down = Arc::new(AtomicBool::new(false));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let (d, c) = (down.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    drop(conn);
                    continue;
                }
                let mut cut = c.subscribe();
                tokio::spawn(async move {
                    let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut conn, &mut up) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy { base, down, cut }
    }

    /// Down: open connections are cut, new ones are closed at once.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            self.cut.send_modify(|n| *n += 1);
        }
    }
}

/// `localrecord-recorder serve` on a free port (synthetic source, tone).
pub struct Served {
    pub child: tokio::process::Child,
    pub base: String,
}

pub async fn serve(server: &str, data: &std::path::Path, extra: &[&str]) -> Served {
    let port = free_port();
    let child = tokio::process::Command::new(recorder_bin())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--source",
            "test",
            "--audio",
            "tone",
        ])
        .args(["--server", server])
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}/localrecord/v1/");
    for _ in 0..100 {
        if reqwest::Client::new()
            .post(format!("{base}GetState"))
            .send()
            .await
            .is_ok()
        {
            return Served { child, base };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the control API did not come up");
}

/// sendCmd(cmd, obj) of the seed's sample.
pub async fn cmd(s: &Served, name: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}{name}", s.base))
        .header("Content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{name} answers 200 so the sample reads the body");
    r.json().await.unwrap()
}
