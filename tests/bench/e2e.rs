//! End-to-end benchmark (not a test): a class recorded, uploaded, stopped and called back, timed
//! the way the business server sees it. The real client crate (`localrecord-client`, the recorder's
//! own tus uploader with its 4 MiB chunks, MD5 checksums and journal) uploads a class of
//! recorder-like slices to the real `localrecord serve` binary at a compressed real-time pace
//! (slice i is handed over when it would be finished, `BENCH_PACE_SECS` apart instead of 300 s),
//! then stops the task; a receiver that verifies the Standard Webhooks signature with its own HMAC
//! notes when the result arrives. Printed: stop -> callback and last slice landed -> callback, per
//! store (fs, and S3 through s3s-fs), beside the original service's 5-10 minutes; the callback's
//! URL is checked to serve the MP4 (index in front, full size) at once; and callback -> one object:
//! on S3 the recording is served from its parts until the store has copied them into one object
//! (`jobs::compose`), which s3s-fs does byte by byte (on fs it is one object at the callback).
//!
//! Slices: exactly the recorder's encoder (`media::Encoder::Recorder`: 1280x720, 15 fps, libx264
//! veryfast zerolatency, 1 Mbit/s, a keyframe every 2 s, AAC 128 kb/s stereo 44.1 kHz), one 300 s
//! slice made once with the ffmpeg CLI and cached in `<target>/bench-media` (the splice bench's
//! cache), uploaded as every index.
//!
//! Run: `cargo bench --bench e2e` (release) with LOCALRECORD_TEST_DATABASE_URL and s3s-fs as for
//! the tests. `BENCH_HOURS=1` (default: 12 slices), `3` (36 slices) or `1,3`; `BENCH_STORES=fs,s3`
//! (default both); `BENCH_PACE_SECS` (default 5); `BENCH_SLICE_SECS` (default 300); `BENCH_RUST_LOG`
//! (the server's log filter, default `warn`; e.g. `warn,localrecord::store::compose=info` shows
//! where an S3 stop's time goes).

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/media.rs"]
mod media;
#[allow(dead_code)]
#[path = "../chaos/receiver.rs"]
mod receiver;

use localrecord_client::server::{Credentials, ServerClient};
use localrecord_client::upload::{journal::Journal, Options};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_localrecord");
const APP: i64 = 1400000001;

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| d.to_owned())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The cached recorder-like slice (made once; minutes on a 2-core machine).
fn recorder_slice(media_dir: &Path, secs: u64) -> PathBuf {
    let path = media_dir.join(format!("recorder-{secs}s.flv"));
    if !path.exists() {
        println!(
            "making a {secs} s recorder-like slice with the ffmpeg CLI (cached in {})",
            path.display()
        );
        let spec = media::SliceSpec {
            secs: secs as f64,
            size: "1280x720",
            audio: true,
            tone: 440,
        };
        let part = format!("recorder-{secs}s.part.flv");
        let tmp = media::make_slice_with(media_dir, &part, &spec, media::Encoder::Recorder);
        std::fs::rename(tmp, &path).unwrap();
    }
    path
}

struct Row {
    store: &'static str,
    slices: usize,
    mib: f64,
    upload_secs: f64,
    stop_to_callback: f64,
    landed_to_callback: f64,
    output_secs: f64,
    output_mib: f64,
    /// Callback -> the recording is one object in the store (it is served from its parts before).
    composed_after: f64,
}

/// One class on one store: a fresh database and server, the client's uploads, stop, callback.
async fn class(store: &'static str, slice: &Path, n: usize, pace: Duration, secs: u64) -> Row {
    let work = tempfile::tempdir_in(target_dir()).unwrap();
    let s3 = match store {
        "s3" => Some(helpers::S3Server::start().await),
        _ => None,
    };
    let port = helpers::free_port();
    let mut env: Vec<(String, String)> = vec![
        (
            "LOCALRECORD_DATABASE_URL".into(),
            helpers::fresh_database("lr_e2e").await,
        ),
        ("LOCALRECORD_LISTEN".into(), format!("127.0.0.1:{port}")),
        (
            "LOCALRECORD_DATA_DIR".into(),
            work.path().join("data").to_string_lossy().into(),
        ),
        ("LOCALRECORD_CALLBACK_ALLOW_PRIVATE".into(), "true".into()),
        ("RUST_LOG".into(), env_or("BENCH_RUST_LOG", "warn")),
    ];
    if let Some(s3) = &s3 {
        for (k, v) in [
            ("BACKEND", "s3"),
            ("ENDPOINT", s3.endpoint.as_str()),
            ("BUCKET", helpers::S3_BUCKET),
            ("ACCESS_KEY_ID", helpers::S3_ACCESS_KEY),
            ("SECRET_ACCESS_KEY", helpers::S3_SECRET_KEY),
        ] {
            env.push((format!("LOCALRECORD_STORE_{k}"), v.into()));
        }
    }
    let keys = helpers::app_create_cli(BIN, APP, &env);
    let key = keys["SecretKey"].as_str().unwrap();
    let db_url = env[0].1.clone();
    let (mut server, base) = helpers::serve_cli(BIN, &env, port).await;
    let sig =
        |user: &str| localrecord::auth::usersig::generate(APP as u64, key, user, 86400, localrecord::auth::now(), None);

    let receiver = receiver::Receiver::default();
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", hook.local_addr().unwrap());
    receiver.serve(hook, keys["WebhookSecret"].as_str().unwrap());
    let q = format!(
        "sdkappid={APP}&identifier=administrator&usersig={}&random=1&contenttype=json",
        sig("administrator")
    );
    let r = reqwest::Client::new()
        .post(format!("{base}/v4/ilvb_edu/local_record?{q}"))
        .json(&serde_json::json!({ "Action": "RegisteredCallback", "CallbackUrl": hook_url }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);

    let client = ServerClient::new(
        &base,
        Credentials {
            sdk_app_id: APP as u64,
            user_id: "teacher".into(),
            user_sig: sig("teacher"),
        },
    );
    let req = localrecord_client::api::CreateTask {
        class_id: 1,
        ..Default::default()
    };
    let task = client.create_task(&req).await.unwrap();
    let journal = Journal::open(&work.path().join("journal")).unwrap();
    let start = Instant::now();
    let mut landed = start;
    for i in 0..n {
        // Slice i exists once its (compressed) 300 s have passed.
        tokio::time::sleep_until((start + pace * (i as u32 + 1)).into()).await;
        let r = client
            .upload_slice(&journal, &task, i as i32, slice, &Options::default())
            .await
            .unwrap();
        assert!(r.complete);
        landed = Instant::now();
        println!(
            "{store}: slice {}/{n} landed at {:.1} s",
            i + 1,
            landed.duration_since(start).as_secs_f64()
        );
    }
    client.stop_task(&task, n as i32).await.unwrap();
    let stopped = Instant::now();
    let d = loop {
        if let Some(d) = receiver.deliveries().into_iter().find(|d| d.task == task) {
            break d;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(1800),
            "no callback in 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(d.signature_ok && d.state == "done", "{d:?}");
    let output_secs = d.body["VideoOutputDuration"].as_f64().unwrap_or(0.0) / 1000.0;
    let want = (n as u64 * secs) as f64;
    assert!(
        (output_secs - want).abs() < 1.0,
        "the MP4 lasts {output_secs} s, want {want}"
    );
    playable_at_callback(&d.body).await;
    let composed_after = one_object(&db_url, &task).await.duration_since(d.at).as_secs_f64();
    server.kill().ok();
    server.wait().ok();
    Row {
        store,
        slices: n,
        mib: (std::fs::metadata(slice).unwrap().len() * n as u64) as f64 / (1 << 20) as f64,
        upload_secs: landed.duration_since(start).as_secs_f64(),
        stop_to_callback: d.at.duration_since(stopped).as_secs_f64(),
        landed_to_callback: d.at.duration_since(landed).as_secs_f64(),
        output_secs,
        output_mib: d.body["VideoOutputSize"].as_f64().unwrap_or(0.0) / (1 << 20) as f64,
        composed_after,
    }
}

/// The callback's URL serves the whole MP4 at once: its start (the index in front) and its size.
async fn playable_at_callback(body: &serde_json::Value) {
    let r = reqwest::Client::new()
        .get(body["VideoOutputUrl"].as_str().unwrap())
        .header("range", "bytes=0-65535")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    let total = r.headers()["content-range"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(total, body["VideoOutputSize"].to_string(), "the served file's size");
    let head = r.bytes().await.unwrap();
    assert_eq!(&head[4..8], b"ftyp");
    assert!(head.windows(4).any(|w| w == b"moov"), "the index is in front");
}

/// When the task's recording became one object in the store.
async fn one_object(db_url: &str, task: &str) -> Instant {
    let db = sqlx::PgPool::connect(db_url).await.unwrap();
    let since = Instant::now();
    loop {
        let parts: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT video_output_parts FROM tasks WHERE task_id = $1")
                .bind(task)
                .fetch_one(&db)
                .await
                .unwrap();
        if parts.is_none() {
            return Instant::now();
        }
        assert!(since.elapsed() < Duration::from_secs(1800), "never one object");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() {
    let secs: u64 = env_or("BENCH_SLICE_SECS", "300").parse().unwrap();
    let pace = Duration::from_secs_f64(env_or("BENCH_PACE_SECS", "5").parse().unwrap());
    let hours: Vec<u64> = env_or("BENCH_HOURS", "1")
        .split(',')
        .map(|h| h.trim().parse().unwrap())
        .collect();
    let stores: Vec<&'static str> = env_or("BENCH_STORES", "fs,s3")
        .split(',')
        .map(|s| match s.trim() {
            "fs" => "fs",
            "s3" => "s3",
            other => panic!("unknown store {other} (fs, s3)"),
        })
        .collect();
    let media_dir = target_dir().join("bench-media");
    std::fs::create_dir_all(&media_dir).unwrap();
    let slice = recorder_slice(&media_dir, secs);
    let mut rows = Vec::new();
    for h in &hours {
        let n = (h * 3600).div_ceil(secs) as usize;
        for store in &stores {
            rows.push(class(store, &slice, n, pace, secs).await);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!();
    println!(
        "load average at the end (1, 5, 15 min): {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!(
        "end to end: localrecord-client uploads {secs} s recorder-like slices (4 MiB tus chunks, one every {:.0} s), stops; a verifying receiver takes the callback",
        pace.as_secs_f64()
    );
    println!("| store | class | FLV uploaded | uploads took | last slice landed -> callback | stop -> callback | original service | MP4 | callback -> one object |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.0} h ({} x {secs} s) | {:.0} MiB | {:.1} s | {:.2} s | {:.2} s | 300-600 s (ours {:.0}-{:.0}x sooner) | {:.1} s, {:.0} MiB | {:.2} s |",
            r.store,
            (r.slices as u64 * secs) as f64 / 3600.0,
            r.slices,
            r.mib,
            r.upload_secs,
            r.landed_to_callback,
            r.stop_to_callback,
            300.0 / r.stop_to_callback,
            600.0 / r.stop_to_callback,
            r.output_secs,
            r.output_mib,
            r.composed_after
        );
    }
}
