//! The process topology of `deploy/topology.sh` (two `localrecord serve`, one Postgres, one
//! s3s-fs), driven through the script itself: `up` in a temp state dir with this build's binary,
//! its env file read back, `kill`/`start` of one instance, `down` on drop (always). The instances
//! are separate processes, so their log files are scanned for secrets here, as [`LeakCheck`]
//! does for in-process servers.
//!
//! [`LeakCheck`]: crate::helpers

use crate::helpers::{auth_for, b64, holds_secret, md5_b64, register_secret, usersig_for, SDKAPPID};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_localrecord");

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Inst {
    A,
    B,
}

impl Inst {
    pub fn name(self) -> &'static str {
        match self {
            Inst::A => "a",
            Inst::B => "b",
        }
    }

    pub fn other(self) -> Inst {
        match self {
            Inst::A => Inst::B,
            Inst::B => Inst::A,
        }
    }
}

pub struct Topology {
    pub dir: tempfile::TempDir,
    pub env: HashMap<String, String>,
    /// `localrecord app create`'s JSON (SecretKey, TicKey, WebhookSecret).
    pub keys: Value,
    pub db: sqlx::PgPool,
    pub http: reqwest::Client,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/topology.sh")
}

/// Reads `KEY=value` lines as written by bash's `printf %q` (our values need no unquoting beyond
/// what the script produces: plain words).
fn read_env(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace('\\', "")))
        .collect()
}

impl Topology {
    /// `topology.sh up` with `settings` (LOCALRECORD_* variables) for both instances, then an app
    /// created with the real CLI against the topology's config.
    pub async fn up(settings: &[(&str, &str)]) -> Topology {
        crate::helpers::init_logs();
        let dir = tempfile::tempdir().unwrap();
        let mut up = Command::new(script());
        // The instances get exactly `settings`, not whatever LOCALRECORD_* the test run carries.
        for (k, _) in
            std::env::vars().filter(|(k, _)| k.starts_with("LOCALRECORD_") && !k.starts_with("LOCALRECORD_TEST_"))
        {
            up.env_remove(k);
        }
        let out = up
            .arg("up")
            .env("TOPOLOGY_DIR", dir.path())
            .env("LOCALRECORD_BIN", BIN)
            .envs(settings.iter().copied())
            .output()
            .unwrap();
        let env_file = dir.path().join("env");
        assert!(
            out.status.success(),
            "topology.sh up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = read_env(&env_file);
        register_secret(&env["TOPO_S3_SECRET_KEY"]);
        let created = Command::new(BIN)
            .args(["--config", &env["TOPO_CONFIG"], "app", "create", "--sdkappid"])
            .arg(SDKAPPID.to_string())
            .env_remove("LOCALRECORD_DATABASE_URL")
            .output()
            .unwrap();
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        let keys: Value = serde_json::from_slice(&created.stdout).unwrap();
        for k in ["SecretKey", "TicKey", "WebhookSecret"] {
            register_secret(keys[k].as_str().unwrap());
        }
        let db = localrecord::db::connect(&env["TOPO_DATABASE_URL"], 2).await.unwrap();
        Topology {
            dir,
            env,
            keys,
            db,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    fn run(&self, args: &[&str]) {
        let out = Command::new(script())
            .args(args)
            .env("TOPOLOGY_DIR", self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "topology.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// SIGKILL one instance (`topology.sh kill`): a crash, nothing flushed or handed back.
    pub fn kill(&mut self, i: Inst) {
        self.run(&["kill", i.name()]);
    }

    /// Starts a killed instance again (`topology.sh start`).
    pub fn start(&mut self, i: Inst) {
        self.run(&["start", i.name()]);
        self.env = read_env(&self.dir.path().join("env"));
    }

    pub fn url(&self, i: Inst) -> String {
        self.env[&format!("TOPO_{}_URL", i.name().to_uppercase())].clone()
    }

    pub fn pid(&self, i: Inst) -> u32 {
        self.env[&format!("TOPO_{}_PID", i.name().to_uppercase())]
            .parse()
            .unwrap()
    }

    /// The instance a job worker id (`host-pid-random`) belongs to.
    pub fn of_worker(&self, worker: &str) -> Option<Inst> {
        let pid: u32 = worker.rsplit('-').nth(1)?.parse().ok()?;
        [Inst::A, Inst::B].into_iter().find(|i| self.pid(*i) == pid)
    }

    pub fn usersig(&self, user: &str) -> String {
        usersig_for(self.keys["SecretKey"].as_str().unwrap(), user)
    }

    pub fn auth(&self, user: &str) -> String {
        auth_for(self.keys["SecretKey"].as_str().unwrap(), user)
    }

    pub fn credentials(&self, user: &str) -> localrecord_client::server::Credentials {
        localrecord_client::server::Credentials {
            sdk_app_id: SDKAPPID as u64,
            user_id: user.into(),
            user_sig: self.usersig(user),
        }
    }

    pub fn webhook_secret(&self) -> String {
        self.keys["WebhookSecret"].as_str().unwrap().to_owned()
    }

    /// The seed's RegisteredCallback, sent to instance `i` as the app's administrator.
    pub async fn register_callback(&self, i: Inst, url: &str) {
        let q = format!(
            "sdkappid={SDKAPPID}&identifier=administrator&usersig={}&random=7&contenttype=json",
            self.usersig("administrator")
        );
        let r = self
            .http
            .post(format!("{}/v4/ilvb_edu/local_record?{q}", self.url(i)))
            .json(&serde_json::json!({ "Action": "RegisteredCallback", "CallbackUrl": url }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }

    /// A recorder's StartRecord on instance `i`; the TaskId.
    pub async fn create_task(&self, i: Inst, user: &str, class: i64) -> String {
        let r = self
            .http
            .post(format!("{}/localrecord/v1/tasks", self.url(i)))
            .header("authorization", self.auth(user))
            .json(&serde_json::json!({ "ClassId": class }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["Response"]["TaskId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn stop_task(&self, i: Inst, user: &str, task: &str, slices: i32) {
        let r = self
            .http
            .post(format!("{}/localrecord/v1/tasks/{task}/stop", self.url(i)))
            .header("authorization", self.auth(user))
            .json(&serde_json::json!({ "SliceCount": slices }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }

    pub async fn task_status(&self, i: Inst, user: &str, task: &str) -> Value {
        let r = self
            .http
            .get(format!("{}/localrecord/v1/tasks/{task}", self.url(i)))
            .header("authorization", self.auth(user))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["Response"].clone()
    }

    fn tus(&self, method: reqwest::Method, url: &str, user: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header("tus-resumable", "1.0.0")
            .header("authorization", self.auth(user))
    }

    /// tus creation of slice `index` on instance `i`; the upload URL (Location).
    pub async fn tus_create(&self, i: Inst, user: &str, task: &str, index: i32, len: usize) -> String {
        let md = format!(
            "task_id {},slice_index {},filename {}",
            b64(task),
            b64(&index.to_string()),
            b64(&format!("{index}.flv"))
        );
        let r = self
            .tus(
                reqwest::Method::POST,
                &format!("{}/localrecord/v1/uploads/", self.url(i)),
                user,
            )
            .header("upload-length", len.to_string())
            .header("upload-metadata", md)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        crate::helpers::location(&r)
    }

    /// One PATCH with the recorder's md5 checksum; its status.
    pub async fn tus_patch(&self, url: &str, user: &str, offset: usize, data: &[u8]) -> reqwest::StatusCode {
        self.tus(reqwest::Method::PATCH, url, user)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .header("upload-checksum", format!("md5 {}", md5_b64(data)))
            .body(data.to_vec())
            .send()
            .await
            .unwrap()
            .status()
    }

    /// PATCHes `data[from..to]` in `chunk`-byte requests, each answered 204.
    pub async fn tus_send(&self, url: &str, user: &str, data: &[u8], from: usize, to: usize, chunk: usize) {
        let mut off = from;
        while off < to {
            let end = (off + chunk).min(to);
            assert_eq!(
                self.tus_patch(url, user, off, &data[off..end]).await,
                204,
                "PATCH at {off} of {url}"
            );
            off = end;
        }
    }

    pub async fn tus_offset(&self, url: &str, user: &str) -> usize {
        let r = self.tus(reqwest::Method::HEAD, url, user).send().await.unwrap();
        assert_eq!(r.status(), 200, "HEAD {url}");
        r.headers()["upload-offset"].to_str().unwrap().parse().unwrap()
    }

    /// The same upload URL on instance `i` (what a balancer would do with the recorder's next
    /// request).
    pub fn on(&self, i: Inst, url: &str) -> String {
        let path = url.splitn(4, '/').nth(3).unwrap();
        format!("{}/{path}", self.url(i))
    }

    /// (state, worker, attempts, last_error) of the job with `key`.
    pub async fn job(&self, key: &str) -> Option<(String, Option<String>, i32, Option<String>)> {
        sqlx::query_as("SELECT state, worker, attempts, last_error FROM jobs WHERE unique_key = $1")
            .bind(key)
            .fetch_optional(&self.db)
            .await
            .unwrap()
    }

    /// The instance running the job with `key`, once one claimed it.
    pub async fn wait_claimed(&self, key: &str) -> Inst {
        self.wait_for(&format!("a claim of {key}"), Duration::from_secs(120), || async {
            match self.job(key).await {
                Some((state, Some(w), _, _)) if state == "running" => self.of_worker(&w),
                _ => None,
            }
        })
        .await
    }

    /// Every JSON log event instance `i` wrote.
    pub fn events(&self, i: Inst) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join(format!("logs/{}.log", i.name())))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The instances that logged `message` with field `key` = `value`.
    pub fn logged(&self, message: &str, key: &str, value: &str) -> Vec<Inst> {
        [Inst::A, Inst::B]
            .into_iter()
            .filter(|i| {
                self.events(*i)
                    .iter()
                    .any(|e| e["fields"]["message"] == message && e["fields"][key].as_str() == Some(value))
            })
            .collect()
    }

    /// Polls `check` until it gives a value, for up to `limit`.
    pub async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
        &self,
        what: &str,
        limit: Duration,
        mut check: impl FnMut() -> F,
    ) -> T {
        let until = Instant::now() + limit;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                Instant::now() < until,
                "gave up waiting {} s for {what}",
                limit.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.dir.path().join("logs"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let out = Command::new(script())
            .arg("down")
            .env("TOPOLOGY_DIR", self.dir.path())
            .output();
        let panicking = std::thread::panicking();
        let mut leaks = Vec::new();
        for f in self.log_files() {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            if panicking {
                let lines: Vec<&str> = text.lines().collect();
                eprintln!("--- {} (last 40 lines)", f.display());
                for l in &lines[lines.len().saturating_sub(40)..] {
                    eprintln!("{l}");
                }
            }
            leaks.extend(
                text.lines()
                    .filter(|l| holds_secret(l))
                    .map(|_| format!("{}: a line holds a secret", f.display())),
            );
        }
        if !panicking {
            let out = out.expect("topology.sh down runs");
            assert!(out.status.success(), "down: {}", String::from_utf8_lossy(&out.stderr));
            assert!(leaks.is_empty(), "{leaks:?}");
        }
    }
}
