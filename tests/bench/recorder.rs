//! Recorder benchmark (not a test): the mission's figure, StopRecord to a queryable MP4, and what
//! recording costs the teacher's machine. The recorder (library, in this process) records the
//! 1280x720 15 fps testsrc2 pattern with a tone (FFmpeg's lavfi device, paced to real time) for
//! BENCH_REC_SECS (default 60) in 10 s slices,
//! uploading to the real `localrecord serve` binary (fs store, its own Postgres database); then
//! `ffmpeg -re` encodes the same input with the same settings into the same FLV slices
//! (`-f segment`), the baseline for CPU and memory. Prints CPU as % of one core, peak RSS, and the
//! time from stop to the server's `done` with a VideoOutputUrl.
//!
//! Run: `deploy/localrecord.sh bench` or `cargo bench --bench recorder`.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

use helpers::free_port;
use localrecord_client::capture::{AudioSource, VideoSource};
use localrecord_client::recorder::{Recorder, Settings, StartParams};
use localrecord_client::server::Credentials;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_localrecord");
const APP: i64 = 1400000001;

/// (user + system) CPU seconds of this process (`self`) or of its waited-for children.
fn cpu_secs(children: bool) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    // After the ")": state is field 3 of the man page, so utime (14) is index 11 here.
    let at = if children { 13 } else { 11 };
    let ticks: f64 = fields[at].parse::<f64>().unwrap() + fields[at + 1].parse::<f64>().unwrap();
    ticks / 100.0
}

fn hwm_mb(pid: &str) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::var("BENCH_REC_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let db_url = helpers::fresh_database("lr_bench").await;
    let port = free_port();
    let dir = tempfile::tempdir_in("target").unwrap();
    let env: Vec<(String, String)> = [
        ("LOCALRECORD_DATABASE_URL", db_url),
        ("LOCALRECORD_LISTEN", format!("127.0.0.1:{port}")),
        (
            "LOCALRECORD_DATA_DIR",
            dir.path().join("server").to_string_lossy().into_owned(),
        ),
        ("RUST_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let keys = helpers::app_create_cli(BIN, APP, &env);
    let key = keys["SecretKey"].as_str().unwrap().to_owned();
    let (mut server, base) = helpers::serve_cli(BIN, &env, port).await;
    println!(
        "recorder benchmark: {secs} s of 1280x720 15 fps + 44.1 kHz tone, 10 s slices, 1 Mbit/s H.264 veryfast + AAC"
    );

    let rec = Recorder::open(Settings {
        server: base.clone(),
        data_dir: dir.path().join("rec"),
        video: VideoSource::Test {
            width: 1280,
            height: 720,
        },
        audio: AudioSource::Tone,
        parallel_uploads: 3,
        min_free_bytes: 0,
        ..Default::default()
    })
    .unwrap();
    let sig = localrecord::auth::usersig::generate(APP as u64, &key, "bench", 3600, localrecord::auth::now(), None);
    let creds = Credentials {
        sdk_app_id: APP as u64,
        user_id: "bench".into(),
        user_sig: sig,
    };
    rec.init(creds).await.unwrap();
    let cpu0 = cpu_secs(false);
    let task = rec
        .start(StartParams {
            class_id: Some(1),
            slice_time: Some(10),
            ..Default::default()
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let stop = Instant::now();
    rec.stop().await.unwrap();
    let cpu = cpu_secs(false) - cpu0;
    let client = rec.client().unwrap();
    let status = loop {
        let s = client.task_status(&task).await.unwrap();
        if s.state == "done" && s.video_output_url.is_some() {
            break s;
        }
        assert!(stop.elapsed() < Duration::from_secs(120), "not spliced: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let queryable = stop.elapsed().as_secs_f64();
    let ours_mb = hwm_mb("self");
    let _ = server.kill();
    let _ = server.wait();

    let seg = dir.path().join("ffmpeg");
    std::fs::create_dir_all(&seg).unwrap();
    let c0 = cpu_secs(true);
    let mut ff = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=15",
        ])
        .args(["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-t",
            &secs.to_string(),
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
        ])
        .args([
            "-tune",
            "zerolatency",
            "-b:v",
            "1M",
            "-maxrate",
            "1500k",
            "-bufsize",
            "2M",
            "-g",
            "30",
        ])
        .args([
            "-force_key_frames",
            "expr:gte(t,n_forced*10)",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ac",
            "2",
        ])
        .args(["-f", "segment", "-segment_time", "10", "-segment_format", "flv"])
        .arg(seg.join("%05d.flv"))
        .spawn()
        .expect("ffmpeg CLI");
    let pid = ff.id().to_string();
    let mut ff_mb: f64 = 0.0;
    while ff.try_wait().unwrap().is_none() {
        ff_mb = ff_mb.max(hwm_mb(&pid));
        std::thread::sleep(Duration::from_millis(200));
    }
    let ff_cpu = cpu_secs(true) - c0;

    let pct = |c: f64| 100.0 * c / secs as f64;
    println!(
        "localrecord-recorder (capture + encode + slice + upload)  CPU {:5.1}% of a core  peak RSS {:6.1} MiB",
        pct(cpu),
        ours_mb
    );
    println!(
        "ffmpeg -re ... -f segment (encode + slice only)           CPU {:5.1}% of a core  peak RSS {:6.1} MiB",
        pct(ff_cpu),
        ff_mb
    );
    println!(
        "CPU ratio {:.2}, memory ratio {:.2}",
        cpu / ff_cpu,
        ours_mb / ff_mb.max(1.0)
    );
    println!(
        "StopRecord -> queryable MP4 ({} s, {} bytes): {:.2} s (the original service: 5-10 minutes)",
        status.video_output_duration.unwrap_or(0) / 1000,
        status.video_output_size.unwrap_or(0),
        queryable
    );
}
