//! Ingest benchmark (not a test): tus uploads the way users send them, into the real
//! `localrecord serve` binary (fs store) and, in the same run and with the same client load, into
//! the peer @tus/server 2 + @tus/file-store (installed from npm into `<target>/tools/tus-node`, run
//! by node on a free loopback port), beside raw fsynced disk writes of the same bytes.
//!
//! Loads (each a fresh server process, so its peak RSS is its own):
//! - 8 parallel uploads of 100 MiB in 4 MiB PATCH chunks (the recorder's chunk size), with the
//!   recorder's `Upload-Checksum: md5` on every chunk (@tus/server ignores the header; a second
//!   peer run, `server-md5.mjs`, verifies it as we do, so both sides do the same work);
//! - the same in 8 MiB chunks; the same in one PATCH per upload;
//! - 200 concurrent uploads of 10 MiB in 1 MiB chunks.
//!
//! Prints MiB/s (bytes sent / wall time from the first POST to the last 204), the server process's
//! peak RSS (VmHWM from /proc), PATCH latency p50/p99, and ours/peer. Raw disk: one thread per
//! upload writing its chunks to a file, `fdatasync` once 64 MiB are unsynced and at the end (our fs
//! store's durability points), and the same with `fdatasync` after every chunk (@tus/file-store
//! never syncs).
//!
//! Run: `cargo bench --bench ingest` with LOCALRECORD_TEST_DATABASE_URL set and node + npm on PATH.
//! BENCH_ROUNDS (default 3: ours and peer alternate; the median run by throughput is shown, the
//! highest peak RSS), BENCH_ONLY (a substring of the load names), BENCH_S3=1 (also ours into S3
//! via s3s-fs, 4 MiB chunks).

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

use bytes::Bytes;
use helpers::{free_port, md5_b64, md5_hex};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_localrecord");
const APP: i64 = 1400000001;
const MIB: usize = 1 << 20;

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

fn bench_dir() -> PathBuf {
    std::env::var("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| target_dir())
}

fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

#[derive(Clone, Copy)]
struct Load {
    name: &'static str,
    uploads: usize,
    size: usize,
    chunk: usize,
}

#[derive(Clone, Default)]
struct Run {
    secs: f64,
    peak_mib: f64,
    idle_mib: f64,
    p50_ms: f64,
    p99_ms: f64,
    patches: usize,
    /// user + system CPU seconds of the server process over its life
    cpu_s: f64,
}

impl Run {
    fn mibs(&self, load: &Load) -> f64 {
        (load.uploads * load.size) as f64 / MIB as f64 / self.secs
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// What a server under test needs from the client: where to create, and which headers to add.
struct Target {
    create_url: String,
    auth: Option<String>,
    /// Upload-Metadata for upload `i`.
    metadata: Box<dyn Fn(usize) -> Option<String> + Send + Sync>,
    pid: u32,
}

/// Runs `load` against `target`: every upload in parallel, its chunks one after another, each with
/// the recorder's md5 checksum. Returns wall seconds and every PATCH's latency.
async fn drive(target: &Target, load: &Load, data: &Bytes, sums: &[String]) -> (f64, Vec<f64>) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(1024).build().unwrap();
    let start = Instant::now();
    let tasks: Vec<_> = (0..load.uploads)
        .map(|i| {
            let client = client.clone();
            let data = data.clone();
            let sums = sums.to_vec();
            let create = target.create_url.clone();
            let auth = target.auth.clone();
            let md = (target.metadata)(i);
            let chunk = load.chunk;
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut r = client
                    .post(&create)
                    .header("tus-resumable", "1.0.0")
                    .header("upload-length", data.len().to_string());
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                if let Some(m) = &md {
                    r = r.header("upload-metadata", m);
                }
                let r = r.send().await.unwrap();
                assert_eq!(r.status(), 201, "{:?}", r.text().await);
                let url = r.headers()["location"].to_str().unwrap().to_owned();
                for (n, off) in (0..data.len()).step_by(chunk).enumerate() {
                    let end = (off + chunk).min(data.len());
                    let t = Instant::now();
                    let mut r = client
                        .patch(&url)
                        .header("tus-resumable", "1.0.0")
                        .header("content-type", "application/offset+octet-stream")
                        .header("upload-offset", off.to_string())
                        .header("upload-checksum", &sums[n]);
                    if let Some(a) = &auth {
                        r = r.header("authorization", a);
                    }
                    let r = r.body(data.slice(off..end)).send().await.unwrap();
                    assert_eq!(r.status(), 204, "{:?}", r.text().await);
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (secs, lat)
}

/// utime + stime of `pid`, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // fields 14 and 15 of stat; after the ")" the first field is 3 (state)
    (tick(11) + tick(12)) / 100.0
}

fn finish_run(target: &Target, secs: f64, lat: Vec<f64>, idle_mib: f64) -> Run {
    Run {
        cpu_s: cpu_secs(target.pid),
        secs,
        peak_mib: vm_kb(target.pid, "VmHWM:") as f64 / 1024.0,
        idle_mib,
        p50_ms: pct(&lat, 0.5),
        p99_ms: pct(&lat, 0.99),
        patches: lat.len(),
    }
}

async fn ours(load: &Load, data: &Bytes, sums: &[String], extra_env: Vec<(String, String)>) -> Run {
    let db_url = helpers::fresh_database("lr_bench").await;
    let port = free_port();
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let mut env = extra_env;
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
    let target = Target {
        create_url: format!("{base}/localrecord/v1/uploads/"),
        auth: Some(auth.clone()),
        metadata: {
            let task = task.clone();
            Box::new(move |i| {
                Some(format!(
                    "task_id {},slice_index {}",
                    helpers::b64(&task),
                    helpers::b64(&i.to_string())
                ))
            })
        },
        pid: server.id(),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_mib = vm_kb(server.id(), "VmRSS:") as f64 / 1024.0;
    let (secs, lat) = drive(&target, load, data, sums).await;
    let run = finish_run(&target, secs, lat, idle_mib);

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
    let md5 = md5_hex(data);
    assert_eq!(stored.len(), load.uploads, "every slice stored");
    for s in stored {
        assert!(
            s["State"] == "uploaded" && s["Size"] == data.len() && s["Md5"] == md5.as_str(),
            "{s}"
        );
    }
    server.kill().ok();
    server.wait().ok();
    run
}

/// Installs @tus/server 2 + @tus/file-store 2 once, and writes the tiny server script.
fn tus_node_dir() -> PathBuf {
    let dir = target_dir().join("tools/tus-node");
    std::fs::create_dir_all(&dir).unwrap();
    if !dir.join("node_modules/@tus/server/package.json").exists()
        || !dir.join("node_modules/@tus/file-store/package.json").exists()
    {
        let st = std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .args(["@tus/server@2", "@tus/file-store@2"])
            .status()
            .expect("npm on PATH");
        assert!(st.success(), "npm install @tus/server @tus/file-store failed");
    }
    std::fs::write(
        dir.join("server.mjs"),
        r#"// @tus/server + @tus/file-store for the ingest benchmark: node server.mjs DIR; prints its port.
import http from 'node:http';
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';
const tus = new Server({ path: '/files', datastore: new FileStore({ directory: process.argv[2] }) });
const srv = http.createServer((req, res) => tus.handle(req, res));
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
"#,
    )
    .unwrap();
    std::fs::write(dir.join("server-md5.mjs"), VERIFYING_PEER).unwrap();
    dir
}

/// The peer doing our work too: each PATCH's bytes MD5ed as they stream into @tus/file-store and
/// checked against its `Upload-Checksum: md5` (460 and the chunk cut off on a mismatch), the way
/// tus's checksum extension asks; what @tus/server itself does not offer.
const VERIFYING_PEER: &str = r#"// @tus/server + @tus/file-store verifying Upload-Checksum md5: node server-md5.mjs DIR
import http from 'node:http';
import crypto from 'node:crypto';
import { Transform } from 'node:stream';
import { truncate } from 'node:fs/promises';
import path from 'node:path';
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';
const dir = process.argv[2];
const expected = new Map();
class Verifying extends FileStore {
  async write(readable, id, offset) {
    const want = expected.get(id);
    expected.delete(id);
    const h = crypto.createHash('md5');
    const tap = new Transform({ transform(c, _e, cb) { h.update(c); cb(null, c); } });
    readable.on('error', (e) => tap.destroy(e));
    const n = await super.write(readable.pipe(tap), id, offset);
    if (want !== undefined && h.digest('base64') !== want) {
      await truncate(path.join(dir, id), offset);
      throw { status_code: 460, body: 'Checksum Mismatch' };
    }
    return n;
  }
}
const tus = new Server({
  path: '/files',
  datastore: new Verifying({ directory: dir }),
  onIncomingRequest: async (req, id) => {
    const c = req.headers.get('upload-checksum');
    if (c && c.startsWith('md5 ')) expected.set(id, c.slice(4));
  },
});
const srv = http.createServer((req, res) => tus.handle(req, res));
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
"#;

fn node_version(node_dir: &Path) -> String {
    let v = std::fs::read_to_string(node_dir.join("node_modules/@tus/server/package.json")).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&v).unwrap_or_default();
    v["version"].as_str().unwrap_or("?").to_owned()
}

/// A run against the peer: `script` is server.mjs (as published) or server-md5.mjs (verifying).
async fn peer(load: &Load, data: &Bytes, sums: &[String], (node_dir, script): (&Path, &str)) -> Run {
    use tokio::io::AsyncBufReadExt;
    let files = tempfile::tempdir_in(bench_dir()).unwrap();
    let mut child = tokio::process::Command::new("node")
        .arg(node_dir.join(script))
        .arg(files.path())
        .current_dir(node_dir)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node on PATH");
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = tokio::time::timeout(Duration::from_secs(30), out.next_line())
        .await
        .expect("tus node server started")
        .unwrap()
        .expect("port line")
        .trim()
        .parse()
        .unwrap();
    let target = Target {
        create_url: format!("http://127.0.0.1:{port}/files"),
        auth: None,
        metadata: Box::new(|i| Some(format!("filename {}", helpers::b64(&format!("{i}.flv"))))),
        pid: child.id().unwrap(),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    if script == "server-md5.mjs" {
        verifies(&target.create_url).await;
    }
    let idle_mib = vm_kb(target.pid, "VmRSS:") as f64 / 1024.0;
    let (secs, lat) = drive(&target, load, data, sums).await;
    let run = finish_run(&target, secs, lat, idle_mib);
    let full = std::fs::read_dir(files.path())
        .unwrap()
        .flatten()
        .filter(|e| e.metadata().is_ok_and(|m| m.len() == data.len() as u64))
        .count();
    assert_eq!(full, load.uploads, "@tus/file-store holds every upload whole");
    child.kill().await.ok();
    run
}

/// The verifying peer refuses a chunk whose md5 is wrong (460) and takes it with the right one.
async fn verifies(create_url: &str) {
    let c = reqwest::Client::new();
    let r = c
        .post(create_url)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "4")
        .send()
        .await
        .unwrap();
    let url = r.headers()["location"].to_str().unwrap().to_owned();
    for (sum, want) in [(md5_b64(b"abce"), 460), (md5_b64(b"abcd"), 204)] {
        let r = c
            .patch(&url)
            .header("tus-resumable", "1.0.0")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", "0")
            .header("upload-checksum", format!("md5 {sum}"))
            .body("abcd")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), want, "the verifying peer checks md5");
    }
}

/// One thread per upload writing its chunks, `fdatasync` after every chunk (`every_chunk`) or, as
/// our fs store does, once 64 MiB are unsynced and at the end.
fn raw_disk(load: &Load, data: &[u8], every_chunk: bool) -> f64 {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let start = Instant::now();
    std::thread::scope(|s| {
        for i in 0..load.uploads {
            let path = dir.path().join(format!("{i}.bin"));
            s.spawn(move || {
                let f = std::fs::File::create(path).unwrap();
                let mut unsynced = 0;
                for (n, c) in data.chunks(load.chunk).enumerate() {
                    f.write_all_at(c, (n * load.chunk) as u64).unwrap();
                    unsynced += c.len();
                    let end = n * load.chunk + c.len() == data.len();
                    if every_chunk || end || unsynced >= 64 * MIB {
                        f.sync_data().unwrap();
                        unsynced = 0;
                    }
                }
            });
        }
    });
    start.elapsed().as_secs_f64()
}

fn median(mut runs: Vec<Run>, load: &Load) -> Run {
    let peak = runs.iter().map(|r| r.peak_mib).fold(0.0, f64::max);
    runs.sort_by(|a, b| a.mibs(load).partial_cmp(&b.mibs(load)).unwrap());
    let mut m = runs[runs.len() / 2].clone();
    m.peak_mib = peak;
    m
}

fn row(name: &str, load: &Load, r: &Run, note: &str) {
    println!(
        "  {:<30} {:>8.1} MiB/s  {:>6.2} s  CPU {:>5.2} s  peak RSS {:>6.1} MiB (idle {:>5.1})  PATCH p50 {:>7.1} ms  p99 {:>7.1} ms  ({} PATCHes){note}",
        name,
        r.mibs(load),
        r.secs,
        r.cpu_s,
        r.peak_mib,
        r.idle_mib,
        r.p50_ms,
        r.p99_ms,
        r.patches
    );
}

#[tokio::main]
async fn main() {
    let rounds = env_usize("BENCH_ROUNDS", 3).max(1);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let loads = [
        Load {
            name: "8 x 100 MiB in 4 MiB chunks",
            uploads: 8,
            size: 100 * MIB,
            chunk: 4 * MIB,
        },
        Load {
            name: "8 x 100 MiB in 8 MiB chunks",
            uploads: 8,
            size: 100 * MIB,
            chunk: 8 * MIB,
        },
        Load {
            name: "8 x 100 MiB, one PATCH each",
            uploads: 8,
            size: 100 * MIB,
            chunk: 100 * MIB,
        },
        Load {
            name: "200 x 10 MiB in 1 MiB chunks",
            uploads: 200,
            size: 10 * MIB,
            chunk: MIB,
        },
    ];
    let node_dir = tus_node_dir();
    println!(
        "ingest benchmark: tus uploads with an md5 Upload-Checksum per chunk; ours = localrecord serve (fs store), peer = @tus/server {} + @tus/file-store (node {}), {rounds} rounds alternating, median by throughput, highest peak RSS",
        node_version(&node_dir),
        String::from_utf8_lossy(&std::process::Command::new("node").arg("--version").output().unwrap().stdout).trim()
    );
    {
        // What hashing costs here: every byte we store is MD5ed (twice, side by side, when a chunk
        // with an md5 checksum does not start at 0).
        let buf = helpers::bytes(256 * MIB, 3);
        let t = Instant::now();
        let mut one = localrecord::ingest::md5::Md5::default();
        one.update(&buf);
        let single = 256.0 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (mut a, mut b) = (
            localrecord::ingest::md5::Md5::default(),
            localrecord::ingest::md5::Md5::default(),
        );
        localrecord::ingest::md5::Md5::update_both(&mut a, &mut b, &buf);
        let both = 256.0 / t.elapsed().as_secs_f64();
        assert_eq!(a, one);
        println!("MD5 on one core: {single:.0} MiB/s; two MD5s of the same bytes in one pass: {both:.0} MiB/s");
    }
    for load in loads.iter().filter(|l| l.name.contains(only.as_str())) {
        let data = Bytes::from(helpers::bytes(load.size, 1));
        let sums: Vec<String> = data.chunks(load.chunk).map(|c| format!("md5 {}", md5_b64(c))).collect();
        let disk = raw_disk(load, &data, false);
        let disk_each = raw_disk(load, &data, true);
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            a.push(ours(load, &data, &sums, vec![]).await);
            b.push(peer(load, &data, &sums, (&node_dir, "server.mjs")).await);
            c.push(peer(load, &data, &sums, (&node_dir, "server-md5.mjs")).await);
        }
        let (a, b, c) = (median(a, load), median(b, load), median(c, load));
        println!("{}:", load.name);
        let total = (load.uploads * load.size) as f64 / MIB as f64;
        println!(
            "  {:<30} {:>8.1} MiB/s  {:>6.2} s",
            "raw disk (sync /64 MiB + end)",
            total / disk,
            disk
        );
        println!(
            "  {:<30} {:>8.1} MiB/s  {:>6.2} s",
            "raw disk (sync every chunk)",
            total / disk_each,
            disk_each
        );
        row("localrecord -> fs", load, &a, "");
        row("@tus/server + file-store", load, &b, "");
        row("the same, verifying md5", load, &c, "");
        println!(
            "  ours/peer: throughput {:.2}x, peak RSS {:.2}x; ours/raw disk {:.2}x; ours/peer verifying md5 as we do: throughput {:.2}x, peak RSS {:.2}x",
            a.mibs(load) / b.mibs(load),
            a.peak_mib / b.peak_mib,
            a.mibs(load) / (total / disk),
            a.mibs(load) / c.mibs(load),
            a.peak_mib / c.peak_mib
        );
        std::io::stdout().flush().ok();
        if std::env::var("BENCH_S3").is_ok_and(|v| v == "1") && load.chunk == 4 * MIB {
            let s3srv = helpers::S3Server::start().await;
            let env = vec![
                ("LOCALRECORD_STORE_BACKEND".to_owned(), "s3".to_owned()),
                ("LOCALRECORD_STORE_ENDPOINT".into(), s3srv.endpoint.clone()),
                ("LOCALRECORD_STORE_BUCKET".into(), helpers::S3_BUCKET.into()),
                ("LOCALRECORD_STORE_ACCESS_KEY_ID".into(), helpers::S3_ACCESS_KEY.into()),
                (
                    "LOCALRECORD_STORE_SECRET_ACCESS_KEY".into(),
                    helpers::S3_SECRET_KEY.into(),
                ),
            ];
            let s = ours(load, &data, &sums, env).await;
            row("localrecord -> s3 (s3s-fs)", load, &s, "");
        }
    }
}
