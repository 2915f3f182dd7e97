//! Typed, layered configuration: built-in defaults, then an optional TOML file, then `LOCALRECORD_*`
//! environment variables (`LOCALRECORD_STORE_BUCKET` sets `store.bucket`). Secrets are
//! [`SecretString`]s, so `Debug` (and therefore every log line) shows `[REDACTED]`.
//! `deploy/localrecord.example.toml` documents every option.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod defaults;

/// Sections whose env names are `LOCALRECORD_<SECTION>_<KEY>`.
const SECTIONS: [&str; 10] = [
    "store", "upload", "db", "jobs", "query", "callback", "tls", "edge", "quota", "metrics",
];

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Settings {
    /// Address the HTTP server binds (`LOCALRECORD_LISTEN`).
    pub listen: SocketAddr,
    /// Postgres URL (`LOCALRECORD_DATABASE_URL`); none means a private PostgreSQL under the data dir.
    #[serde(serialize_with = "ser_secret_opt")]
    pub database_url: Option<SecretString>,
    /// Where the embedded PostgreSQL and the `fs` store live (`LOCALRECORD_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Public base URL of this server, used in every `VideoOutputUrl` (`LOCALRECORD_PUBLIC_URL`).
    pub public_url: Option<String>,
    /// After SIGTERM/SIGINT: how long in-flight requests and jobs get to finish, in seconds. Jobs
    /// still running then are handed back to the queue for the next instance; `serve` exits.
    pub shutdown_grace_secs: u64,
    /// Testing aid: faults to inject (`LOCALRECORD_FAILPOINTS`, see `failpoint`); unset in production.
    pub failpoints: Option<String>,
    pub db: DatabaseSettings,
    pub store: StoreSettings,
    pub upload: UploadSettings,
    pub jobs: JobSettings,
    pub query: QuerySettings,
    pub callback: CallbackSettings,
    pub tls: TlsSettings,
    pub edge: EdgeSettings,
    pub quota: QuotaSettings,
    pub metrics: MetricsSettings,
}

/// Where Prometheus scrapes `/metrics`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct MetricsSettings {
    /// Serve `/metrics` without auth on this address of its own (e.g. `127.0.0.1:9464`).
    pub listen: Option<SocketAddr>,
    /// Serve `/metrics` on the API listener to `Authorization: Bearer <token>`.
    #[serde(serialize_with = "ser_secret_opt")]
    pub token: Option<SecretString>,
}

/// Per-app limits (`crate::quota`); 0 turns one off.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct QuotaSettings {
    /// Recordings one user may have recording or paused at once (a new StartRecord beyond: 403).
    pub open_tasks_per_user: u32,
    /// Bytes one user's unfinished uploads may announce in all (`Upload-Length`); beyond: 429,
    /// since finishing or expiring uploads frees it.
    pub partial_bytes_per_user: u64,
    /// Slices one task may have (slice_index and SliceCount below it; beyond: 403).
    pub slices_per_task: u32,
    /// Bytes one app may store (slices and recordings); beyond: 507 until space is freed (the
    /// recorder keeps its slices and retries). 0, the default, means no limit.
    pub stored_bytes_per_app: u64,
}

/// Limits at the HTTP edge, against clients that hold connections open or guess credentials.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EdgeSettings {
    /// A request's head must arrive whole within this many seconds; also how long an idle
    /// keep-alive connection is kept.
    pub header_read_timeout_secs: u64,
    /// A connection on which no byte moved either way for this many seconds is closed.
    pub idle_timeout_secs: u64,
    /// A request body (tus PATCH) that sends nothing for this many seconds ends with 408; the
    /// bytes that arrived are kept.
    pub body_idle_secs: u64,
    /// Connections open at once; beyond, a connection is answered 503 with Retry-After.
    pub max_connections: usize,
    /// Failed authentications one address may make per minute; beyond, 429 with Retry-After.
    pub auth_failures_per_minute: u32,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct TlsSettings {
    /// PEM certificate chain; with `key_file`, the server speaks HTTPS only.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct QuerySettings {
    /// How far in the future a query's `expire_time` may lie, in seconds: how long a captured
    /// query URL stays usable.
    pub max_expire_window_secs: i64,
    /// Largest `size` (page length) a query may ask for.
    pub max_page_size: i64,
    /// Refuse a query whose `(sign, random)` was already used (and require `random`), so a
    /// captured query URL cannot be replayed. Shared by all instances through Postgres.
    pub replay_cache: bool,
    /// 0: recording URLs are permanent capability URLs (the seed's behaviour). Otherwise they
    /// carry an expiry this many seconds ahead and an HMAC made with the app's TicKey.
    pub recording_url_ttl_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CallbackSettings {
    /// Accept callback URLs that resolve to loopback, private or link-local addresses
    /// (`LOCALRECORD_CALLBACK_ALLOW_PRIVATE`; development and tests only).
    pub allow_private: bool,
    /// Seconds before each attempt: the first is the delay before the first try, and the list's
    /// length is the number of attempts.
    pub retry_schedule_secs: Vec<u64>,
    /// How long one delivery may take, in seconds.
    pub timeout_secs: u64,
    /// Send callbacks through this HTTP(S) proxy (e.g. `http://egress.internal:3128`), which then
    /// decides where they may go. Unset: connect directly; `HTTP_PROXY`/`HTTPS_PROXY` are ignored.
    pub proxy: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct JobSettings {
    /// Run job workers in this instance (false: an API-only instance).
    pub enabled: bool,
    /// Jobs (splices) run at once per instance.
    pub concurrency: usize,
    /// A job's lease; a worker that stops renewing it for this long loses the job to another.
    pub lease_secs: u64,
    /// How often an idle worker looks for work.
    pub poll_interval_ms: u64,
    /// A recording whose recorder showed no sign of life (a slice, a keep-alive, pause/resume/stop)
    /// for this long is spliced from what arrived (partial). A task's own `SliceTime` x 2 wins
    /// when longer, so a recorder that sends no keep-alives is not cut off between slices.
    pub splice_idle_secs: u64,
    /// A running job whose progress counter does not move for this long is abandoned and retried.
    pub stall_secs: u64,
    /// Every job may run this long; a splice gets `deadline_bytes_per_sec` more time per input byte.
    pub deadline_min_secs: u64,
    /// The slowest input rate a splice is allowed (re-encoding included), in bytes per second.
    pub deadline_bytes_per_sec: u64,
    /// A slice arriving for an already spliced task re-splices it after this quiet period, so a
    /// burst of late slices costs one re-splice, not one per slice.
    pub resplice_delay_secs: u64,
    /// fs and S3 stores: prepare each slice for the splice as it lands (checks, remux into the
    /// task's body file or a piece object), so the stop only writes the index. false: the whole
    /// splice runs at the stop.
    pub prepare_slices: bool,
    /// Most packets one prepared slice's table may hold (38 bytes each; the default, 1,766,022, is
    /// 64 MiB, about 8 hours of recorder video and audio). A slice of more (a hostile mass of tiny
    /// packets) is not prepared: the stop splices the whole class instead, which holds no table.
    pub piece_max_packets: usize,
    /// How often the retention job (deleting recordings past their app's `retention_days`) is
    /// queued, in seconds.
    pub retention_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DatabaseSettings {
    /// Connections per server instance.
    pub max_connections: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    Fs,
    S3,
    Oss,
    Cos,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StoreSettings {
    pub backend: StoreBackend,
    /// fs: directory (default `<data_dir>/objects`); object stores: key prefix inside the bucket.
    pub root: Option<String>,
    pub bucket: Option<String>,
    /// e.g. `http://127.0.0.1:9000`, `https://oss-cn-hangzhou.aliyuncs.com`, `https://cos.ap-guangzhou.myqcloud.com`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// S3 only: `bucket.endpoint` addressing instead of `endpoint/bucket`.
    pub virtual_host_style: bool,
    /// S3 only: use the S3 multipart API directly (a tus upload is one multipart upload any
    /// instance continues; recordings are composed by UploadPartCopy). False for S3-compatible
    /// stores without UploadPartCopy or ListParts: they are then used as OSS and COS are.
    pub s3_multipart: bool,
    pub access_key_id: Option<String>,
    #[serde(serialize_with = "ser_secret_opt")]
    pub secret_access_key: Option<SecretString>,
    /// Multipart part size in bytes for S3/OSS/COS writes; bounds memory per stream.
    pub part_size: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct UploadSettings {
    /// Largest accepted `Upload-Length` in bytes (`Tus-Max-Size`); larger gets 413.
    pub max_size: u64,
    /// An upload untouched for this many seconds expires and its partial bytes are deleted.
    pub expiry_secs: u64,
    /// How often the expiry sweeper runs, in seconds.
    pub sweep_interval_secs: u64,
    /// A slice or recording object with no database row (a crash between writing it and
    /// committing its row) is deleted by the sweep once it is this old, in seconds.
    pub orphan_grace_secs: u64,
}

impl UploadSettings {
    /// When an upload touched now expires.
    pub fn expiry_from_now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::Duration::seconds(self.expiry_secs as i64)
    }
}

fn ser_secret_opt<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    v.as_ref().map(|x| x.expose_secret().to_owned()).serialize(s)
}

impl Settings {
    /// Defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(f) = file {
            fig = fig.merge(Toml::file_exact(f));
        }
        fig.merge(Env::prefixed("LOCALRECORD_").map(|key| {
            let k = key.as_str().to_ascii_lowercase();
            for section in SECTIONS {
                if let Some(rest) = k.strip_prefix(section).and_then(|r| r.strip_prefix('_')) {
                    return format!("{section}.{rest}").into();
                }
            }
            k.into()
        }))
        .extract()
        .map_err(Box::new)
    }

    /// Base URL used in links handed to clients that are not answering a request.
    pub fn public_base(&self) -> String {
        self.public_base_seen(None, None)
    }

    /// Base URL used in links handed to clients: `public_url` when set, otherwise this server as
    /// the client reached it: `host` (a request's Host; default the listen address) over
    /// `forwarded_proto` (a proxy's X-Forwarded-Proto; default https when serving TLS, else http).
    pub fn public_base_seen(&self, host: Option<&str>, forwarded_proto: Option<&str>) -> String {
        if let Some(u) = &self.public_url {
            return u.trim_end_matches('/').to_owned();
        }
        let own = if self.tls.cert_file.is_some() { "https" } else { "http" };
        let proto = forwarded_proto.unwrap_or(own);
        match host {
            Some(host) => format!("{proto}://{host}"),
            None => format!("{proto}://{}", self.listen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let mut s = Settings {
            database_url: Some("postgres://u:hunter2@db/x".into()),
            ..Default::default()
        };
        s.store.secret_access_key = Some("s3cr3t-key".into());
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("hunter2") && !dbg.contains("s3cr3t-key"), "{dbg}");
    }

    #[test]
    fn public_base_urls() {
        let mut s = Settings::default();
        assert_eq!(s.public_base(), "http://127.0.0.1:8080");
        assert_eq!(
            s.public_base_seen(Some("rec.example:81"), None),
            "http://rec.example:81"
        );
        assert_eq!(s.public_base_seen(Some("h"), Some("https")), "https://h");
        s.tls.cert_file = Some("cert.pem".into());
        assert_eq!(s.public_base(), "https://127.0.0.1:8080");
        assert_eq!(s.public_base_seen(Some("h"), None), "https://h");
        assert_eq!(s.public_base_seen(Some("h"), Some("http")), "http://h");
        s.public_url = Some("https://rec.example/base//".into());
        assert_eq!(s.public_base(), "https://rec.example/base");
        assert_eq!(s.public_base_seen(Some("h"), Some("http")), "https://rec.example/base");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns figment::Error
    fn env_overrides_file_and_maps_sections() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "listen = \"0.0.0.0:9\"\n[store]\nbackend = \"s3\"\nbucket = \"a\"\n",
            )?;
            jail.set_env("LOCALRECORD_STORE_BUCKET", "b");
            jail.set_env("LOCALRECORD_UPLOAD_MAX_SIZE", "123");
            let s = Settings::load(Some(Path::new("c.toml"))).map_err(|e| *e)?;
            assert_eq!(s.listen.port(), 9);
            assert_eq!(s.store.backend, StoreBackend::S3);
            assert_eq!(s.store.bucket.as_deref(), Some("b"));
            assert_eq!(s.upload.max_size, 123);
            Ok(())
        });
    }
}
