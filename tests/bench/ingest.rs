//! Ingest benchmark (not a test): 8 parallel 100 MB slice uploads over tus into the fs store and into
//! S3 (s3s-fs on loopback), against the real `localrecord serve` binary, beside the raw disk write
//! speed measured in the same run (8 parallel 100 MB files, fsynced, as the fs store does).
//! Prints throughput and the server's peak memory (VmHWM).
//!
//! Run: `deploy/localrecord.sh bench` (or `cargo bench --bench ingest` with s3s-fs on PATH and
//! LOCALRECORD_TEST_DATABASE_URL set). BENCH_SLICES / BENCH_SLICE_MB change the load.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

use helpers::{free_port, md5_b64, S3Server, S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY};
use std::io::Write;

use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_localrecord");
const APP: i64 = 1400000001;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn vm_kb(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Run {
    secs: f64,
    peak_mb: f64,
    idle_mb: f64,
}

async fn run_server(label: &str, env: Vec<(String, String)>, data: &bytes::Bytes, slices: usize) -> Run {
    let db_url = helpers::fresh_database("lr_bench").await;
    let port = free_port();
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "target".into())).unwrap();
    let mut env = env;
    env.extend([
        ("LOCALRECORD_DATABASE_URL".into(), db_url),
        ("LOCALRECORD_LISTEN".into(), format!("127.0.0.1:{port}")),
        ("LOCALRECORD_DATA_DIR".into(), dir.path().to_string_lossy().into_owned()),
        ("RUST_LOG".into(), "warn".into()),
    ]);
    let keys = helpers::app_create_cli(BIN, APP, &env);
    let key = keys["SecretKey"].as_str().unwrap().to_owned();

    let (mut server, base) = helpers::serve_cli(BIN, &env, port).await;
    let client = reqwest::Client::new();
    let idle_mb = vm_kb(server.id(), "VmRSS:") as f64 / 1024.0;
    let sig = localrecord::auth::usersig::generate(APP as u64, &key, "bench", 3600, localrecord::auth::now(), None);
    let auth = format!("UserSig sdkappid={APP},identifier=bench,usersig={sig}");
    let r: serde_json::Value = client
        .post(format!("{base}/localrecord/v1/tasks"))
        .header("authorization", &auth)
        .json(&serde_json::json!({ "ClassId": 1 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let task = r["Response"]["TaskId"].as_str().unwrap().to_owned();
    let sum = format!("md5 {}", md5_b64(data));

    let start = Instant::now();
    let uploads = (0..slices).map(|i| {
        let (client, auth, base, task, sum, data) = (
            client.clone(),
            auth.clone(),
            base.clone(),
            task.clone(),
            sum.clone(),
            data.clone(),
        );
        tokio::spawn(async move {
            let md = format!(
                "task_id {},slice_index {}",
                helpers::b64(&task),
                helpers::b64(&i.to_string())
            );
            let r = client
                .post(format!("{base}/localrecord/v1/uploads/"))
                .header("tus-resumable", "1.0.0")
                .header("authorization", &auth)
                .header("upload-length", data.len().to_string())
                .header("upload-metadata", md)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let url = r.headers()["location"].to_str().unwrap().to_owned();
            let r = client
                .patch(url)
                .header("tus-resumable", "1.0.0")
                .header("authorization", &auth)
                .header("content-type", "application/offset+octet-stream")
                .header("upload-offset", "0")
                .header("upload-checksum", sum)
                .body(data)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204, "{:?}", r.text().await);
        })
    });
    for u in futures::future::join_all(uploads.collect::<Vec<_>>()).await {
        u.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let peak_mb = vm_kb(server.id(), "VmHWM:") as f64 / 1024.0;

    let st: serde_json::Value = client
        .get(format!("{base}/localrecord/v1/tasks/{task}"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored = st["Response"]["Slices"].as_array().unwrap();
    assert_eq!(stored.len(), slices, "{label}: every slice stored");
    assert!(
        stored
            .iter()
            .all(|s| s["State"] == "uploaded" && s["Size"] == data.len()),
        "{label}: {st}"
    );
    server.kill().ok();
    server.wait().ok();
    Run { secs, peak_mb, idle_mb }
}

/// 8 threads writing 100 MB files in 1 MB writes, each fsynced at the end (as the fs store does).
fn raw_disk(data: &[u8], files: usize) -> f64 {
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "target".into())).unwrap();
    let start = Instant::now();
    std::thread::scope(|s| {
        for i in 0..files {
            let path = dir.path().join(format!("{i}.bin"));
            s.spawn(move || {
                let mut f = std::fs::File::create(path).unwrap();
                for c in data.chunks(1 << 20) {
                    f.write_all(c).unwrap();
                }
                f.sync_all().unwrap();
            });
        }
    });
    start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let slices = env_usize("BENCH_SLICES", 8);
    let mb = env_usize("BENCH_SLICE_MB", 100);
    let data = bytes::Bytes::from(helpers::bytes(mb << 20, 1));
    let total_mb = (slices * mb) as f64;
    println!("ingest benchmark: {slices} parallel slices x {mb} MiB, single PATCH each with md5 checksum");

    let disk = raw_disk(&data, slices);
    println!(
        "{:<28} {:>8.2} s {:>9.1} MiB/s",
        "raw disk write (fsync)",
        disk,
        total_mb / disk
    );

    let fs = run_server("fs", vec![], &data, slices).await;
    let s3srv = S3Server::start().await;
    let s3_env = vec![
        ("LOCALRECORD_STORE_BACKEND".to_owned(), "s3".to_owned()),
        ("LOCALRECORD_STORE_ENDPOINT".into(), s3srv.endpoint.clone()),
        ("LOCALRECORD_STORE_BUCKET".into(), S3_BUCKET.into()),
        ("LOCALRECORD_STORE_ACCESS_KEY_ID".into(), S3_ACCESS_KEY.into()),
        ("LOCALRECORD_STORE_SECRET_ACCESS_KEY".into(), S3_SECRET_KEY.into()),
    ];
    let s3 = run_server("s3", s3_env, &data, slices).await;
    for (name, r) in [("tus -> fs store", &fs), ("tus -> s3 store (s3s-fs)", &s3)] {
        println!(
            "{:<28} {:>8.2} s {:>9.1} MiB/s  ({:.2}x raw disk)  server peak RSS {:.1} MiB (idle {:.1} MiB)",
            name,
            r.secs,
            total_mb / r.secs,
            disk / r.secs,
            r.peak_mb,
            r.idle_mb
        );
    }
}
