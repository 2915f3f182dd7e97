//! Test harness: each test gets the real app on port 0 with a freshly created and migrated Postgres
//! database, and either the fs store in a temp dir or a real S3 server (s3s-fs, SigV4 checked).

use localrecord::admin::{self, AppKeys};
use localrecord::auth::usersig;
use localrecord::config::{Settings, StoreBackend};
use localrecord::http::AppState;
use localrecord::startup::Application;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

pub const SDKAPPID: i64 = 1400000001;
pub const S3_ACCESS_KEY: &str = "localrecord-test";
pub const S3_SECRET_KEY: &str = "localrecord-test-secret";
pub const S3_BUCKET: &str = "localrecord";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Fs,
    S3,
}

/// A running s3s-fs; killed on drop.
pub struct S3Server {
    pub endpoint: String,
    _child: tokio::process::Child,
    _root: tempfile::TempDir,
}

fn s3s_fs_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("S3S_FS_BIN") {
        return p.into();
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).chain([home.join(".cargo/bin")]) {
        if dir.join("s3s-fs").is_file() {
            return dir.join("s3s-fs");
        }
    }
    panic!("s3s-fs not found: run `deploy/localrecord.sh test` (it installs s3s-fs 0.14.1) or set S3S_FS_BIN");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl S3Server {
    pub async fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(S3_BUCKET)).unwrap();
        let port = free_port();
        let child = tokio::process::Command::new(s3s_fs_bin())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting s3s-fs");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return S3Server {
                    endpoint: format!("http://127.0.0.1:{port}"),
                    _child: child,
                    _root: root,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("s3s-fs did not start on port {port}");
    }
}

/// Where tests and their stores live; shared by instances in multi-instance tests.
pub struct Backing {
    pub db_url: String,
    pub data_dir: tempfile::TempDir,
    pub s3: Option<S3Server>,
}

pub fn admin_db_url() -> String {
    std::env::var("LOCALRECORD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `localrecord app create` run as a user would (the binary, configured by `env` alone); returns
/// its JSON.
pub fn app_create_cli(bin: &str, sdkappid: i64, env: &[(String, String)]) -> Value {
    let out = std::process::Command::new(bin)
        .args(["app", "create", "--sdkappid", &sdkappid.to_string()])
        .env_remove("LOCALRECORD_DATABASE_URL")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `localrecord serve` as a user runs it (the binary, configured by `env` alone) on `port`, once
/// its /health answers; returns the process and its base URL. Used by the benchmarks
/// (`tests/bench/`, which include this file).
#[allow(dead_code)]
pub async fn serve_cli(bin: &str, env: &[(String, String)], port: u16) -> (std::process::Child, String) {
    let mut server = std::process::Command::new(bin)
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{base}/health")).await.is_ok() {
            return (server, base);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = server.kill();
    let _ = server.wait();
    panic!("localrecord serve did not come up on {base}");
}

/// Creates an empty database named `<prefix>_<random>` next to the admin database; returns its URL.
pub async fn fresh_database(prefix: &str) -> String {
    let admin = admin_db_url();
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&admin)
        .await
        .expect("test Postgres reachable (LOCALRECORD_TEST_DATABASE_URL)");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

impl Backing {
    pub async fn new(kind: StoreKind) -> Arc<Backing> {
        let db_url = fresh_database("lr_test").await;
        let s3 = match kind {
            StoreKind::S3 => Some(S3Server::start().await),
            StoreKind::Fs => None,
        };
        Arc::new(Backing {
            db_url,
            data_dir: tempfile::tempdir().unwrap(),
            s3,
        })
    }

    pub fn settings(&self) -> Settings {
        let mut s = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: Some(self.db_url.clone().into()),
            data_dir: self.data_dir.path().to_owned(),
            ..Default::default()
        };
        s.db.max_connections = 10;
        s.upload.sweep_interval_secs = 3600;
        if let Some(s3) = &self.s3 {
            s.store.backend = StoreBackend::S3;
            s.store.endpoint = Some(s3.endpoint.clone());
            s.store.bucket = Some(S3_BUCKET.into());
            s.store.region = Some("us-east-1".into());
            s.store.access_key_id = Some(S3_ACCESS_KEY.into());
            s.store.secret_access_key = Some(S3_SECRET_KEY.into());
            s.store.part_size = 5 * 1024 * 1024;
        }
        s
    }
}

/// Secrets this test process handed out (keys, UserSigs, the S3 secret). Every log line the
/// server writes is checked against them, so a secret in a log fails the test that caused it:
/// across the whole suite, that is every log line of a full test run.
static SECRETS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
static LEAKS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
static LINES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Log lines written so far in this test process (the check above saw each).
pub fn log_lines() -> usize {
    LINES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether [`LeakCheck`] would flag `line`.
pub fn holds_secret(line: &str) -> bool {
    SECRETS.lock().unwrap().iter().any(|s| line.contains(s.as_str()))
}

pub fn register_secret(secret: &str) {
    if secret.len() >= 8 {
        SECRETS.lock().unwrap().push(secret.to_owned());
    }
}

/// The log writer of test processes: looks for secrets, then (with `LOCALRECORD_TEST_LOG` set)
/// shows the line.
struct LeakCheck;

impl std::io::Write for LeakCheck {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = String::from_utf8_lossy(buf);
        LINES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for secret in SECRETS.lock().unwrap().iter() {
            if line.contains(secret.as_str()) {
                LEAKS
                    .lock()
                    .unwrap()
                    .push(line.replace(secret.as_str(), "[THE SECRET]"));
            }
        }
        if std::env::var_os("LOCALRECORD_TEST_LOG").is_some() {
            eprint!("{line}");
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Logs of the server's code at debug level (what an operator turning logging up would see) and of
/// the libraries at info, all through [`LeakCheck`].
pub fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        register_secret(S3_SECRET_KEY);
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,localrecord=debug,sqlx=warn"))
            .with_ansi(false)
            .with_writer(|| LeakCheck)
            .try_init();
    });
}

/// Fails the test (on drop of its app) if any secret reached a log line.
pub fn assert_no_secret_in_logs() {
    let leaks = LEAKS.lock().unwrap();
    assert!(leaks.is_empty(), "secrets written to the log: {leaks:#?}");
}

pub struct LeakGuard;

impl Drop for LeakGuard {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_no_secret_in_logs();
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub state: AppState,
    pub client: reqwest::Client,
    pub keys: Arc<AppKeys>,
    pub backing: Arc<Backing>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _leaks: LeakGuard,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(StoreKind::Fs).await
}

pub async fn spawn_app_on(kind: StoreKind) -> TestApp {
    spawn_app_with(kind, |_| {}).await
}

/// A new backing (database, store) with app SDKAPPID created, and one instance serving it.
pub async fn spawn_app_with(kind: StoreKind, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let backing = Backing::new(kind).await;
    let mut settings = backing.settings();
    tweak(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let keys = admin::create_app(&app.state().db, SDKAPPID, None, None, vec!["administrator".into()])
        .await
        .unwrap();
    start(app, backing, Arc::new(keys)).await
}

/// Another instance over the same database and store.
pub async fn spawn_instance(other: &TestApp) -> TestApp {
    spawn_instance_with(other, |_| {}).await
}

pub async fn spawn_instance_with(other: &TestApp, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = other.backing.settings();
    tweak(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    start(app, other.backing.clone(), other.keys.clone()).await
}

async fn start(app: Application, backing: Arc<Backing>, keys: Arc<AppKeys>) -> TestApp {
    init_logs();
    for k in [&keys.secret_key, &keys.tic_key, &keys.webhook_secret] {
        register_secret(k);
    }
    let addr = app.local_addr();
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        rx.await.ok();
    }));
    TestApp {
        addr,
        base: format!("http://{addr}"),
        state,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        keys,
        backing,
        _stop: tx,
        _leaks: LeakGuard,
    }
}

pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn md5_b64(data: &[u8]) -> String {
    use base64::Engine;
    use md5::Digest;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
}

/// A Standard Webhooks check done by the test itself (not the server's code): does any of the
/// space-separated `webhook-signature` entries match HMAC-SHA256(`secret`, "id.timestamp.body")?
pub fn verify_webhook(secret: &str, headers: &axum::http::HeaderMap, body: &[u8]) -> bool {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let b64 = base64::engine::general_purpose::STANDARD;
    let Ok(key) = b64.decode(secret.strip_prefix("whsec_").unwrap_or(secret)) else {
        return false;
    };
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", h("webhook-id"), h("webhook-timestamp")).as_bytes());
    mac.update(body);
    let want = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
    h("webhook-signature").split(' ').any(|s| s == want)
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

/// Deterministic test bytes (not all-zero, so misplaced chunks show).
pub fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_be_bytes()[0] ^ seed)
        .collect()
}

/// A one-hour UserSig of the test app for `user`, signed with `secret_key` (registered with the
/// log leak check).
pub fn usersig_for(secret_key: &str, user: &str) -> String {
    let sig = usersig::generate(SDKAPPID as u64, secret_key, user, 3600, localrecord::auth::now(), None);
    register_secret(&sig);
    sig
}

/// The `Authorization: UserSig ...` value for `user` of the test app.
pub fn auth_for(secret_key: &str, user: &str) -> String {
    format!(
        "UserSig sdkappid={SDKAPPID},identifier={user},usersig={}",
        usersig_for(secret_key, user)
    )
}

impl TestApp {
    pub fn usersig(&self, user: &str) -> String {
        usersig_for(&self.keys.secret_key, user)
    }

    pub fn auth(&self, user: &str) -> String {
        auth_for(&self.keys.secret_key, user)
    }

    /// `localrecord app <args>` run as an operator would (the binary, on this app's database and data
    /// dir); returns its JSON.
    pub fn app_cli(&self, args: &[&str]) -> Value {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_localrecord"))
            .arg("app")
            .args(args)
            .env("LOCALRECORD_DATABASE_URL", &self.backing.db_url)
            .env("LOCALRECORD_DATA_DIR", self.backing.data_dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, user: &str, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .header("authorization", self.auth(user))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn create_task(&self, user: &str, class_id: i64) -> String {
        let r = self
            .post_json(
                user,
                "/localrecord/v1/tasks",
                &serde_json::json!({ "ClassId": class_id }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        v["Response"]["TaskId"].as_str().unwrap().to_owned()
    }

    /// The recorder's stop: `SliceCount` slices were recorded.
    pub async fn stop_task(&self, user: &str, task: &str, slice_count: i32) -> Response {
        self.post_json(
            user,
            &format!("/localrecord/v1/tasks/{task}/stop"),
            &serde_json::json!({ "SliceCount": slice_count }),
        )
        .await
    }

    pub async fn task_status(&self, user: &str, task: &str) -> Value {
        let r = self
            .client
            .get(self.url(&format!("/localrecord/v1/tasks/{task}")))
            .header("authorization", self.auth(user))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["Response"].clone()
    }

    pub fn tus(&self, method: reqwest::Method, url: &str, user: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .header("tus-resumable", "1.0.0")
            .header("authorization", self.auth(user))
    }

    /// POST creation for slice `index` of `task`; returns the response (Location on 201).
    pub async fn tus_create(&self, user: &str, task: &str, index: i64, length: usize) -> Response {
        let md = format!(
            "task_id {},slice_index {},filename {}",
            b64(task),
            b64(&index.to_string()),
            b64(&format!("{index}.flv"))
        );
        self.tus(reqwest::Method::POST, &self.url("/localrecord/v1/uploads/"), user)
            .header("upload-length", length.to_string())
            .header("upload-metadata", md)
            .send()
            .await
            .unwrap()
    }

    pub async fn tus_patch(&self, user: &str, url: &str, offset: usize, data: Vec<u8>, md5: bool) -> Response {
        let mut req = self
            .tus(reqwest::Method::PATCH, url, user)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string());
        if md5 {
            req = req.header("upload-checksum", format!("md5 {}", md5_b64(&data)));
        }
        req.body(data).send().await.unwrap()
    }

    pub async fn tus_offset(&self, user: &str, url: &str) -> i64 {
        let r = self.tus(reqwest::Method::HEAD, url, user).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "HEAD {url}");
        r.headers()["upload-offset"].to_str().unwrap().parse().unwrap()
    }

    /// Uploads `data` as slice `index` in chunks of `chunk` bytes with md5 checksums.
    pub async fn upload_slice(&self, user: &str, task: &str, index: i64, data: &[u8], chunk: usize) -> String {
        let r = self.tus_create(user, task, index, data.len()).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
        let url = location(&r);
        for (i, c) in data.chunks(chunk.max(1)).enumerate() {
            let r = self.tus_patch(user, &url, i * chunk, c.to_vec(), true).await;
            assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.text().await);
        }
        url
    }

    /// The bytes of the stored slice `index` of `task`, read back from the store.
    pub async fn stored_slice(&self, task: &str, index: i32) -> Option<Vec<u8>> {
        let s = localrecord::db::slices::get(&self.state.db, task, index)
            .await
            .unwrap()?;
        use futures::TryStreamExt;
        let chunks: Vec<bytes::Bytes> = self
            .state
            .store
            .read_stream(&s.object_key, 0..s.size as u64)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        Some(chunks.concat())
    }
}

pub fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .expect("Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// The seed's error envelope: (Code, Message).
pub async fn error_of(r: Response) -> (i64, String) {
    let v: Value = r.json().await.expect("JSON error body");
    let e = &v["Response"]["Error"];
    assert!(v["Response"]["RequestId"].is_string(), "RequestId in {v}");
    (
        e["Code"].as_i64().expect("Code"),
        e["Message"].as_str().expect("Message").to_owned(),
    )
}
