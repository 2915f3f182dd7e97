//! The cluster under test, as processes: a private PostgreSQL, s3s-fs, two `localrecord serve`
//! instances (restarted by a supervisor when they die, as systemd would), a loopback balancer in
//! front of them, and the webhook receiver.

use crate::helpers::{free_port, S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY, SDKAPPID};
use crate::receiver::Receiver;
use localrecord::embedded_pg::EmbeddedPostgres;
use localrecord_client::server::Credentials;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_localrecord");

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub kills: u32,
    pub restarts: u32,
    pub pg_restarts: u32,
    pub s3_outage_secs: u64,
}

#[derive(Debug, Default)]
pub struct Report {
    pub lost: usize,
    pub stuck: usize,
    pub duplicate_deliveries: usize,
    pub problems: Vec<String>,
}

pub struct Cluster {
    dir: PathBuf,
    pg: tokio::sync::Mutex<Option<EmbeddedPostgres>>,
    db_url: String,
    s3_port: u16,
    s3: Mutex<Option<Child>>,
    ports: Vec<u16>,
    instances: Mutex<Vec<Option<Child>>>,
    proxy_port: u16,
    keys: localrecord::admin::AppKeys,
    receiver: Receiver,
    stats: Mutex<Stats>,
}

fn s3s_fs() -> PathBuf {
    std::env::var_os("S3S_FS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo/bin/s3s-fs"))
}

impl Cluster {
    pub async fn start(dir: &Path) -> Cluster {
        let pg = EmbeddedPostgres::start(&dir.join("pg"))
            .await
            .expect("private PostgreSQL");
        let db_url = pg.url();
        let pool = localrecord::db::connect(&db_url, 2).await.unwrap();
        localrecord::db::MIGRATOR.run(&pool).await.unwrap();
        let keys = localrecord::admin::create_app(&pool, SDKAPPID, None, None, vec!["administrator".into()])
            .await
            .unwrap();
        let receiver = Receiver::default();
        let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook_url = format!("http://{}/hook", hook.local_addr().unwrap());
        receiver.serve(hook, &keys.webhook_secret);
        localrecord::db::apps::set_callback_url(&pool, SDKAPPID, &hook_url)
            .await
            .unwrap();
        pool.close().await;
        std::fs::create_dir_all(dir.join("s3").join(S3_BUCKET)).unwrap();
        let c = Cluster {
            dir: dir.to_owned(),
            pg: tokio::sync::Mutex::new(Some(pg)),
            db_url,
            s3_port: free_port(),
            s3: Mutex::new(None),
            ports: vec![free_port(), free_port()],
            instances: Mutex::new(vec![None, None]),
            proxy_port: free_port(),
            keys,
            receiver,
            stats: Mutex::new(Stats::default()),
        };
        c.start_s3();
        wait_port(c.s3_port).await;
        for i in 0..2 {
            c.start_instance(i);
        }
        for p in &c.ports {
            wait_port(*p).await;
        }
        tokio::spawn(balance(c.proxy_port, c.ports.clone()));
        wait_port(c.proxy_port).await;
        c
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.proxy_port)
    }

    pub fn credentials(&self, user: &str) -> Credentials {
        Credentials {
            sdk_app_id: SDKAPPID as u64,
            user_id: user.into(),
            user_sig: localrecord::auth::usersig::generate(
                SDKAPPID as u64,
                &self.keys.secret_key,
                user,
                86400,
                localrecord::auth::now(),
                None,
            ),
        }
    }

    fn start_s3(&self) {
        let child = Command::new(s3s_fs())
            .args(["--host", "127.0.0.1", "--port", &self.s3_port.to_string()])
            .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
            .arg(self.dir.join("s3"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs");
        *self.s3.lock().unwrap() = Some(child);
    }

    fn stop_s3(&self) {
        if let Some(mut c) = self.s3.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn start_instance(&self, i: usize) {
        let port = self.ports[i];
        let data = self.dir.join(format!("instance-{i}"));
        std::fs::create_dir_all(&data).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("instance-{i}.log")))
            .unwrap();
        let env = [
            ("LOCALRECORD_DATABASE_URL", self.db_url.clone()),
            ("LOCALRECORD_DATA_DIR", data.to_string_lossy().into_owned()),
            ("LOCALRECORD_LISTEN", format!("127.0.0.1:{port}")),
            ("LOCALRECORD_PUBLIC_URL", self.base()),
            ("LOCALRECORD_STORE_BACKEND", "s3".into()),
            (
                "LOCALRECORD_STORE_ENDPOINT",
                format!("http://127.0.0.1:{}", self.s3_port),
            ),
            ("LOCALRECORD_STORE_BUCKET", S3_BUCKET.into()),
            ("LOCALRECORD_STORE_ACCESS_KEY_ID", S3_ACCESS_KEY.into()),
            ("LOCALRECORD_STORE_SECRET_ACCESS_KEY", S3_SECRET_KEY.into()),
            ("LOCALRECORD_CALLBACK_ALLOW_PRIVATE", "true".into()),
            (
                "LOCALRECORD_CALLBACK_RETRY_SCHEDULE_SECS",
                "[0,1,2,3,5,5,5,5,5,5,5,5]".into(),
            ),
            ("LOCALRECORD_JOBS_LEASE_SECS", "4".into()),
            ("LOCALRECORD_JOBS_POLL_INTERVAL_MS", "100".into()),
            ("LOCALRECORD_SHUTDOWN_GRACE_SECS", "2".into()),
            ("LOCALRECORD_UPLOAD_SWEEP_INTERVAL_SECS", "5".into()),
            ("RUST_LOG", "info,sqlx=warn".into()),
        ];
        let child = Command::new(BIN)
            .arg("serve")
            .env_remove("LOCALRECORD_CONFIG")
            .envs(env)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("localrecord serve");
        self.instances.lock().unwrap()[i] = Some(child);
    }

    /// Restarts instances that died (a store outage at start makes `serve` exit), as systemd would.
    fn supervise(&self) {
        for i in 0..2 {
            let dead = {
                let mut all = self.instances.lock().unwrap();
                match all[i].as_mut().map(|c| c.try_wait()) {
                    Some(Ok(None)) => false,
                    _ => {
                        all[i] = None;
                        true
                    }
                }
            };
            if dead {
                self.start_instance(i);
                self.stats.lock().unwrap().restarts += 1;
            }
        }
    }

    fn kill_instance(&self, i: usize) {
        if let Some(mut c) = self.instances.lock().unwrap()[i].take() {
            let _ = c.kill();
            let _ = c.wait();
            self.stats.lock().unwrap().kills += 1;
        }
    }

    /// Kills instances at random moments for `span`, restarts PostgreSQL once (at 40 %) and stops
    /// the S3 server for 10 s (at 60 %).
    pub async fn drive(self: std::sync::Arc<Self>, span: Duration) -> Stats {
        let start = Instant::now();
        let (mut pg_done, mut s3_done) = (false, false);
        let mut next_kill = start + Duration::from_secs(3);
        while start.elapsed() < span {
            tokio::time::sleep(Duration::from_millis(500)).await;
            self.supervise();
            if Instant::now() >= next_kill {
                let i = rand::thread_rng().gen_range(0..2);
                self.kill_instance(i);
                let pause = rand::thread_rng().gen_range(500..3000);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                self.supervise();
                next_kill = Instant::now() + Duration::from_millis(rand::thread_rng().gen_range(4000..12000));
            }
            if !pg_done && start.elapsed() >= span.mul_f64(0.4) {
                pg_done = true;
                let mut pg = self.pg.lock().await;
                drop(pg.take()); // pg_ctl stop
                tokio::time::sleep(Duration::from_secs(2)).await;
                *pg = Some(
                    EmbeddedPostgres::start(&self.dir.join("pg"))
                        .await
                        .expect("PostgreSQL restarts"),
                );
                self.stats.lock().unwrap().pg_restarts += 1;
            }
            if !s3_done && start.elapsed() >= span.mul_f64(0.6) {
                s3_done = true;
                self.stop_s3();
                let t = Instant::now();
                tokio::time::sleep(Duration::from_secs(10)).await;
                self.start_s3();
                wait_port(self.s3_port).await;
                self.stats.lock().unwrap().s3_outage_secs = t.elapsed().as_secs();
            }
        }
        self.supervise();
        self.stats.lock().unwrap().clone()
    }

    /// Waits until every task has a final result delivered and no job is queued or running.
    pub async fn converge(&self, done: &[(String, Vec<String>)], limit: Duration) -> Duration {
        let t = Instant::now();
        let pool = localrecord::db::connect(&self.db_url, 2).await.unwrap();
        let tasks: Vec<String> = done.iter().map(|d| d.0.clone()).collect();
        loop {
            self.supervise();
            let open: (i64,) = sqlx::query_as("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')")
                .fetch_one(&pool)
                .await
                .unwrap_or((1,));
            let finished: (i64,) = sqlx::query_as(
                "SELECT count(*) FROM tasks WHERE task_id = ANY($1) AND state IN ('done', 'partial', 'failed')",
            )
            .bind(&tasks)
            .fetch_one(&pool)
            .await
            .unwrap_or((0,));
            if open.0 == 0 && finished.0 as usize == tasks.len() {
                break;
            }
            if t.elapsed() > limit {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        pool.close().await;
        t.elapsed()
    }

    /// What a user checks: slices, results, jobs, deliveries, and the store after a sweep.
    pub async fn check(&self, done: &[(String, Vec<String>)], defective: &BTreeMap<usize, i32>) -> Report {
        let mut report = Report::default();
        let mut settings = localrecord::config::Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: Some(self.db_url.clone().into()),
            data_dir: self.dir.join("checker"),
            ..Default::default()
        };
        settings.jobs.enabled = false;
        settings.upload.orphan_grace_secs = 0;
        settings.store.backend = localrecord::config::StoreBackend::S3;
        settings.store.endpoint = Some(format!("http://127.0.0.1:{}", self.s3_port));
        settings.store.bucket = Some(S3_BUCKET.into());
        settings.store.access_key_id = Some(S3_ACCESS_KEY.into());
        settings.store.secret_access_key = Some(S3_SECRET_KEY.into());
        let app = localrecord::startup::Application::build(settings).await.unwrap();
        let state = app.state().clone();
        let deliveries = self.receiver.deliveries();
        for (r, (task, md5s)) in done.iter().enumerate() {
            let t = localrecord::db::tasks::get(&state.db, task).await.unwrap().unwrap();
            let stored = localrecord::db::slices::for_task(&state.db, task).await.unwrap();
            for (i, md5) in md5s.iter().enumerate() {
                match stored.iter().find(|s| s.slice_index == i as i32) {
                    Some(s) if &s.md5 == md5 => {}
                    other => {
                        report.lost += 1;
                        report.problems.push(format!(
                            "{task} slice {i}: stored {:?}, uploader {md5}",
                            other.map(|s| &s.md5)
                        ));
                    }
                }
            }
            let want = match defective.get(&r) {
                Some(i) => ("partial", vec![*i]),
                None => ("done", vec![]),
            };
            if (t.state.as_str(), t.missing_slices.clone()) != (want.0, want.1.clone()) {
                report.problems.push(format!(
                    "{task}: {} missing {:?}, wanted {want:?}",
                    t.state, t.missing_slices
                ));
            }
            let mine: Vec<_> = deliveries.iter().filter(|d| &d.task == task).collect();
            if !mine.iter().any(|d| d.state == t.state.as_str() && d.signature_ok) {
                report
                    .problems
                    .push(format!("{task}: no verified delivery of its {} result", t.state));
            }
        }
        let stuck: (i64,) = sqlx::query_as("SELECT count(*) FROM jobs WHERE state <> 'done'")
            .fetch_one(&state.db)
            .await
            .unwrap();
        report.stuck = stuck.0 as usize;
        let mut seen = BTreeSet::new();
        for d in &deliveries {
            if !seen.insert(d.id.clone()) {
                report.duplicate_deliveries += 1;
            }
        }
        localrecord::ingest::sweep::sweep(&state.ingest).await.unwrap();
        let swept = localrecord::ingest::sweep::sweep_objects(&state.ingest).await.unwrap();
        if swept.orphans > 0 {
            tracing::info!(orphans = swept.orphans, "orphans left by kills were swept");
        }
        let keys: Vec<String> = [localrecord::store::keys::SLICES, localrecord::store::keys::RECORDINGS]
            .into_iter()
            .map(|p| state.store.list(p))
            .collect::<futures::future::JoinAll<_>>()
            .await
            .into_iter()
            .flat_map(|r| r.unwrap())
            .collect();
        let live = localrecord::db::slices::referenced(&state.db, &keys).await.unwrap();
        for k in keys.iter().filter(|k| !live.contains(k)) {
            report.problems.push(format!("orphan object after the sweep: {k}"));
        }
        report
    }

    pub async fn stop(&self) {
        for i in 0..2 {
            if let Some(mut c) = self.instances.lock().unwrap()[i].take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        self.stop_s3();
        self.pg.lock().await.take();
    }
}

async fn wait_port(port: u16) {
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {port}");
}

/// A TCP balancer: each connection goes to a live instance, chosen at random.
async fn balance(port: u16, backends: Vec<u16>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        let mut order = backends.clone();
        if rand::thread_rng().gen_bool(0.5) {
            order.reverse();
        }
        tokio::spawn(async move {
            for b in order {
                if let Ok(mut out) = tokio::net::TcpStream::connect(("127.0.0.1", b)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    return;
                }
            }
        });
    }
}
