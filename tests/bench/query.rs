//! Query benchmark (not a test): the signed /paas/v1/localrecord/query against 1,000,000 stored
//! recordings (20,000 classes x 50, 4 users each) on the real `localrecord serve` binary, beside a
//! bare peer measured in the same run: a plain axum + sqlx endpoint in a process of its own (this
//! binary re-run with BENCH_BARE_SERVER) running the same page + count SQL with no sign, app
//! lookup, envelope or edge limits. Prints, for both, an open-loop run at a fixed rate (default
//! 2,000 requests/s for 10 s: throughput, p50, p99, max, errors) and a closed-loop run (64 clients as
//! fast as they go), and ours/bare. Client, servers and Postgres share this machine's cores.
//!
//! Run: `deploy/localrecord.sh bench` or `cargo bench --bench query`.
//! BENCH_RECORDS, BENCH_RATE, BENCH_SECS change the load.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

use helpers::free_port;
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_localrecord");
const APP: i64 = 1400000001;
const PER_CLASS: i64 = 50;

fn env_i(k: &str, d: i64) -> i64 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

struct Client {
    http: reqwest::Client,
    base: String,
    tic: String,
    classes: i64,
    /// Talk to the bare peer instead.
    bare: bool,
}

impl Client {
    async fn one(&self) -> Result<Duration, String> {
        let (class, index) = {
            let mut r = rand::thread_rng();
            (r.gen_range(1..=self.classes), r.gen_range(0..PER_CLASS))
        };
        if self.bare {
            let t = Instant::now();
            let r = self
                .http
                .post(format!("{}/q", self.base))
                .json(&serde_json::json!({ "class_id": class, "Index": index, "size": 10 }))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
            let took = t.elapsed();
            if v["total"] != PER_CLASS {
                return Err(format!("bad answer: {v}"));
            }
            return Ok(took);
        }
        let exp = localrecord::auth::now() + 300;
        let sign = localrecord::auth::query_sign::sign(&self.tic, exp);
        let url = format!(
            "{}/paas/v1/localrecord/query?sdkappid={APP}&sign={sign}&expire_time={exp}&random=7",
            self.base
        );
        let body = serde_json::json!({ "class_id": class, "user_id": "", "task_id": "", "Index": index, "size": 10, "expire_time": exp });
        let t = Instant::now();
        let r = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
        let took = t.elapsed();
        if v["error_code"] != 0 || v["total"] != PER_CLASS {
            return Err(format!("bad answer: {v}"));
        }
        Ok(took)
    }
}

/// The bare peer: the same page + count SQL (`db::tasks::records`) behind a plain axum route.
async fn bare_server(db_url: String, port: u16) {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(20)
        .connect(&db_url)
        .await
        .unwrap();
    let app = axum::Router::new()
        .route(
            "/q",
            axum::routing::post(
                |axum::extract::State(pool): axum::extract::State<sqlx::PgPool>,
                 axum::Json(b): axum::Json<serde_json::Value>| async move {
                    let f = localrecord::db::tasks::RecordFilter {
                        sdk_app_id: APP,
                        class_id: b["class_id"].as_i64().unwrap_or(0),
                        user_id: None,
                        task_id: None,
                    };
                    let index = b["Index"].as_i64().unwrap_or(0);
                    let size = b["size"].as_i64().unwrap_or(10);
                    let (rows, total) = localrecord::db::tasks::records(&pool, &f, index, size).await.unwrap();
                    let list: Vec<serde_json::Value> = rows
                        .into_iter()
                        .map(|t| serde_json::json!({ "TaskId": t.task_id, "UserId": t.user_id, "VideoOutputId": t.video_output_id }))
                        .collect();
                    axum::Json(serde_json::json!({ "total": total, "list": list }))
                },
            ),
        )
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}

/// Open loop at `rate` for `secs`, then closed loop with 64 clients for 5 s: (closed-loop req/s,
/// open-loop p99 ms).
async fn measure(name: &str, client: Arc<Client>, rate: i64, secs: i64) -> (f64, f64) {
    for _ in 0..200 {
        client.one().await.expect("warm-up query");
    }
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let mut handles = Vec::with_capacity((rate * secs) as usize);
    for _ in 0..rate * secs {
        tick.tick().await;
        let c = client.clone();
        handles.push(tokio::spawn(async move { c.one().await }));
    }
    let mut lat = Vec::with_capacity(handles.len());
    let mut errors = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(d) => lat.push(d),
            Err(e) => {
                if errors == 0 {
                    eprintln!("{name}: first error: {e}");
                }
                errors += 1;
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    lat.sort();
    let p99 = pct(&lat, 0.99);
    println!(
        "{name:>5} open loop at {rate}/s for {secs} s: {:.0} req/s done, p50 {:.2} ms, p99 {p99:.2} ms, max {:.2} ms, errors {errors}",
        lat.len() as f64 / wall,
        pct(&lat, 0.5),
        lat.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
    );
    let start = Instant::now();
    let deadline = start + Duration::from_secs(5);
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move {
                let mut v = Vec::new();
                while Instant::now() < deadline {
                    if let Ok(d) = c.one().await {
                        v.push(d);
                    }
                }
                v
            })
        })
        .collect();
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await.unwrap());
    }
    let wall = start.elapsed().as_secs_f64();
    lat.sort();
    let rps = lat.len() as f64 / wall;
    println!(
        "{name:>5} closed loop, 64 clients, 5 s: {rps:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    );
    (rps, p99)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Ok(spec) = std::env::var("BENCH_BARE_SERVER") {
        let (url, port) = spec.rsplit_once(' ').expect("BENCH_BARE_SERVER=<db url> <port>");
        bare_server(url.to_owned(), port.parse().unwrap()).await;
        return;
    }
    let records = env_i("BENCH_RECORDS", 1_000_000);
    let rate = env_i("BENCH_RATE", 2000);
    let secs = env_i("BENCH_SECS", 10);
    let classes = records / PER_CLASS;

    let db_url = helpers::fresh_database("lr_bench").await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("LOCALRECORD_DATABASE_URL", db_url.clone()),
        ("LOCALRECORD_LISTEN", format!("127.0.0.1:{port}")),
        ("LOCALRECORD_DATA_DIR", dir.path().to_string_lossy().into_owned()),
        ("LOCALRECORD_JOBS_ENABLED", "false".into()),
        ("RUST_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let keys = helpers::app_create_cli(BIN, APP, &env);
    let tic = keys["TicKey"].as_str().unwrap().to_owned();

    let t = Instant::now();
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    sqlx::query(
        "INSERT INTO tasks (task_id, sdk_app_id, class_id, user_id, state, start_time, video_output_id, video_output_key,
                            video_output_size, video_output_duration_ms, splic_time)
         SELECT format('t-%s', i), $1, i / $2 + 1, format('u%s', i % 4), 'done',
                timestamptz '2026-01-01' + make_interval(secs => i), (1000000000000000000 + i)::text, 'k',
                100000000 + i, 2700000 + i, timestamptz '2026-01-02'
         FROM generate_series(0, $3 - 1) AS i",
    )
    .bind(APP)
    .bind(PER_CLASS)
    .bind(records)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE tasks").execute(&pool).await.unwrap();
    pool.close().await;
    println!(
        "query benchmark: {records} recordings in {classes} classes (loaded in {:.1} s)",
        t.elapsed().as_secs_f64()
    );

    let (mut server, base) = helpers::serve_cli(BIN, &env, port).await;
    let bare_port = free_port();
    let mut bare = std::process::Command::new(std::env::current_exe().unwrap())
        .env("BENCH_BARE_SERVER", format!("{db_url} {bare_port}"))
        .spawn()
        .unwrap();
    let bare_base = format!("http://127.0.0.1:{bare_port}");
    while reqwest::get(format!("{bare_base}/q")).await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let client = |base: String, bare: bool| {
        Arc::new(Client {
            http: http.clone(),
            base,
            tic: tic.clone(),
            classes,
            bare,
        })
    };
    let (ours, ours_p99) = measure("ours", client(base, false), rate, secs).await;
    let (peer, _) = measure("bare", client(bare_base, true), rate, secs).await;
    println!(
        "ours/bare closed-loop throughput: {:.2} (target >= 0.85); our open-loop p99 at {rate}/s: {ours_p99:.2} ms (target <= 8)",
        ours / peer
    );
    server.kill().ok();
    server.wait().ok();
    bare.kill().ok();
    bare.wait().ok();
}
