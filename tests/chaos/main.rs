//! The chaos suite: two `localrecord serve` instances behind a loopback balancer, one private
//! PostgreSQL and one S3 server (s3s-fs), recorder-like uploaders (the real client crate, 4 MiB
//! tus chunks, some slices defective on purpose), while a driver SIGKILLs and restarts instances at
//! random moments, restarts PostgreSQL once and stops the S3 server for 10 s. At the end every
//! slice must be stored with the uploader's MD5, every task finished (partial only where a slice
//! was defective on purpose), no job stuck, every result delivered to a verifying receiver, and no
//! orphan object left after a sweep. It prints a table.
//!
//! Short by default (CI): `CHAOS_RECORDINGS=6 CHAOS_SLICES=4 CHAOS_SECS=60`. By hand:
//! `deploy/localrecord.sh chaos` (20 recordings x 10 slices over 10 minutes).

mod cluster;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "../api/media.rs"]
#[allow(dead_code)]
mod media;
#[allow(dead_code)] // `body` and `at` serve the topology tests and the e2e bench
mod receiver;

use cluster::{Cluster, Stats};
use localrecord_client::server::{Credentials, ServerClient};
use localrecord_client::upload::Options;
use rand::Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A slice larger than one 4 MiB chunk, like the recorder's.
fn recorder_like_slice(dir: &Path) -> PathBuf {
    let path = dir.join("slice.flv");
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=15",
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "8"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-b:v", "6M", "-g", "30"])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    path
}

/// One recorder: a task, its slices at a steady pace, then the stop; retries everything until
/// the server has it (a recorder's queue does the same).
async fn recorder(
    base: String,
    creds: Credentials,
    class: i64,
    slices: Vec<PathBuf>,
    pace: Duration,
    journal: PathBuf,
) -> (String, Vec<String>) {
    let client = ServerClient::new(&base, creds);
    let journal = localrecord_client::upload::journal::Journal::open(&journal).unwrap();
    let req = localrecord_client::api::CreateTask {
        class_id: class,
        ..Default::default()
    };
    let task = retry(|| client.create_task(&req)).await;
    let mut md5s = Vec::new();
    let opts = Options {
        chunk_size: 4 * 1024 * 1024,
        ..Default::default()
    };
    for (i, s) in slices.iter().enumerate() {
        tokio::time::sleep(pace).await;
        let r = retry(|| client.upload_slice(&journal, &task, i as i32, s, &opts)).await;
        md5s.push(r.md5);
    }
    retry(|| client.stop_task(&task, slices.len() as i32)).await;
    (task, md5s)
}

async fn retry<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(mut f: impl FnMut() -> F) -> T {
    let until = Instant::now() + Duration::from_secs(600);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if Instant::now() < until => {
                tracing::debug!("recorder retrying: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("gave up after 10 minutes: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos() {
    let recordings = env_or("CHAOS_RECORDINGS", 6) as usize;
    let per = env_or("CHAOS_SLICES", 4) as usize;
    let secs = env_or("CHAOS_SECS", 60);
    let dir = tempfile::tempdir().unwrap();
    let good = recorder_like_slice(dir.path());
    let bad = dir.path().join("defective.flv");
    std::fs::write(&bad, rand::thread_rng().gen::<[u8; 32]>().repeat(40_000)).unwrap();

    let cluster = Arc::new(Cluster::start(dir.path()).await);
    let started = Instant::now();
    let chaos = tokio::spawn(cluster.clone().drive(Duration::from_secs(secs)));

    // Every third recording has one defective slice, on purpose.
    let pace = Duration::from_secs_f64(secs as f64 * 0.8 / per as f64);
    let mut recorders = Vec::new();
    let mut defective = BTreeMap::new();
    for r in 0..recordings {
        let mut slices = vec![good.clone(); per];
        if r % 3 == 0 {
            slices[per / 2] = bad.clone();
            defective.insert(r, (per / 2) as i32);
        }
        let journal = dir.path().join(format!("journal-{r}"));
        std::fs::create_dir_all(&journal).unwrap();
        recorders.push(tokio::spawn(recorder(
            cluster.base(),
            cluster.credentials("teacher"),
            100 + r as i64,
            slices,
            pace,
            journal,
        )));
    }
    let mut done = Vec::new();
    for r in recorders {
        done.push(r.await.unwrap());
    }
    let stats: Stats = chaos.await.unwrap();
    let converged = cluster.converge(&done, Duration::from_secs(300)).await;
    let report = cluster.check(&done, &defective).await;
    let took = started.elapsed();
    println!();
    println!("chaos: {recordings} recordings x {per} slices over {secs} s, 2 instances, s3s-fs, private PostgreSQL");
    println!("| kills | restarts | pg restarts | S3 outage s | recordings | slices | lost | stuck | duplicate deliveries | converge s | total s |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.0} |",
        stats.kills,
        stats.restarts,
        stats.pg_restarts,
        stats.s3_outage_secs,
        recordings,
        recordings * per,
        report.lost,
        report.stuck,
        report.duplicate_deliveries,
        converged.as_secs_f64(),
        took.as_secs_f64()
    );
    for p in &report.problems {
        println!("problem: {p}");
    }
    assert!(
        stats.kills >= 1 && stats.pg_restarts == 1 && stats.s3_outage_secs >= 10,
        "{stats:?}"
    );
    assert_eq!((report.lost, report.stuck), (0, 0), "{:?}", report.problems);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    cluster.stop().await;
}
