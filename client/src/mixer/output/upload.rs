//! Uploading outputs (`isUploadOnRecording: 1`): each finished slice is sent by a thread of the
//! output's own to `serverPathFileName/NAME.00000.ext`: one HTTP PUT for `http(s)://`, one object
//! through OpenDAL for `s3://bucket/prefix` (S3 settings from the standard `AWS_*` variables).
//! A slice the target already holds at its size (HEAD, stat) is not sent again; a failed send is
//! retried with backoff a bounded number of times. A slice that fails for good stops the uploads (later slices stay in the
//! spool) and the output ends with errCode RECORDFILE_UPLOAD_FAILED; the local file is never
//! touched by any of this.

use super::super::types::{err, CrError};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// How uploading outputs cut and send their slices.
#[derive(Debug, Clone)]
pub struct UploadCfg {
    /// A new slice at the first keyframe after this many seconds.
    pub slice_secs: u32,
    /// PUT attempts per slice.
    pub attempts: u32,
    /// Backoff before the second attempt (doubling, at most 30 s).
    pub first_backoff: Duration,
    /// Keep slices in the spool after they are uploaded (tests; otherwise they are removed).
    pub keep_uploaded: bool,
    /// S3 settings for `s3://` targets; None: from the environment ([`S3Settings::from_env`]).
    pub s3: Option<S3Settings>,
}

/// How `s3://` targets are reached.
#[derive(Clone, Default)]
pub struct S3Settings {
    /// None: AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        write!(
            f,
            "S3Settings({:?}, {}, {})",
            self.endpoint, self.region, self.access_key_id
        )
    }
}

impl S3Settings {
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (both needed), `AWS_REGION` (default
    /// us-east-1), `AWS_ENDPOINT_URL` (an S3-compatible server: MinIO, OSS, COS...).
    pub fn from_env() -> Option<S3Settings> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some(S3Settings {
            endpoint: var("AWS_ENDPOINT_URL"),
            region: var("AWS_REGION").unwrap_or_else(|| "us-east-1".into()),
            access_key_id: var("AWS_ACCESS_KEY_ID")?,
            secret_access_key: var("AWS_SECRET_ACCESS_KEY")?,
        })
    }
}

impl Default for UploadCfg {
    fn default() -> Self {
        UploadCfg {
            slice_secs: 60,
            attempts: 6,
            first_backoff: Duration::from_millis(500),
            keep_uploaded: false,
            s3: None,
        }
    }
}

/// Whether `target` is an upload destination this build sends slices to.
pub fn supported(target: &str) -> bool {
    let t = target.to_ascii_lowercase();
    if t.starts_with("s3://") {
        return s3_parts(target).is_some();
    }
    (t.starts_with("http://") || t.starts_with("https://")) && reqwest::Url::parse(target).is_ok()
}

/// `s3://bucket/some/prefix` -> ("bucket", "some/prefix").
fn s3_parts(target: &str) -> Option<(&str, &str)> {
    let rest = target.get(5..)?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let ok = !bucket.is_empty()
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then_some((bucket, prefix.trim_matches('/')))
}

/// Where one output's slices go.
enum Target {
    Http { client: reqwest::Client, base: String },
    S3 { op: opendal::Operator, prefix: String },
}

impl Target {
    /// Checks the target and its settings (an `s3://` one needs [`S3Settings`]).
    fn new(target: &str, s3: Option<S3Settings>) -> Result<Target, CrError> {
        let param = |m: String| CrError::new(err::PARAM_ERR, m);
        if let Some((bucket, prefix)) = s3_parts(target) {
            let s = s3
                .or_else(S3Settings::from_env)
                .ok_or_else(|| param("an s3:// target needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into()))?;
            let mut b = opendal::services::S3::default()
                .bucket(bucket)
                .region(&s.region)
                .access_key_id(&s.access_key_id)
                .secret_access_key(&s.secret_access_key)
                .disable_config_load()
                .disable_ec2_metadata();
            if let Some(e) = &s.endpoint {
                b = b.endpoint(e);
            }
            let op = opendal::Operator::new(b)
                .map_err(|e| param(format!("S3 settings: {e}")))?
                .finish();
            return Ok(Target::S3 {
                op,
                prefix: prefix.to_owned(),
            });
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| CrError::new(err::INNER_ERR, format!("HTTP client: {e}")))?;
        Ok(Target::Http {
            client,
            base: target.trim_end_matches('/').to_owned(),
        })
    }

    /// Whether the target holds `name` at `size` bytes already.
    async fn has(&self, name: &str, size: u64) -> bool {
        match self {
            Target::Http { client, base } => already_there(client, &format!("{base}/{name}"), size).await,
            Target::S3 { op, prefix } => op
                .stat(&join(prefix, name))
                .await
                .is_ok_and(|m| m.content_length() == size),
        }
    }

    async fn put(&self, name: &str, body: Vec<u8>) -> Result<(), String> {
        match self {
            Target::Http { client, base } => match client.put(format!("{base}/{name}")).body(body).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("HTTP {}", r.status())),
                Err(e) => Err(e.to_string()),
            },
            Target::S3 { op, prefix } => op
                .write(&join(prefix, name), body)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

/// The thread sending one output's slices, in order.
pub struct Uploader {
    tx: mpsc::Sender<PathBuf>,
    thread: std::thread::JoinHandle<Result<(), CrError>>,
}

impl Uploader {
    /// Checks `target` (refused with PARAM_ERR) and starts the thread.
    pub fn start(target: &str, cfg: UploadCfg) -> Result<Uploader, CrError> {
        let t = Target::new(target, cfg.s3.clone())?;
        let shown = target.to_owned();
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let thread = std::thread::spawn(move || run(&t, &shown, &cfg, rx));
        Ok(Uploader { tx, thread })
    }

    /// Hands over a finished slice.
    pub fn send(&self, slice: PathBuf) {
        // A send fails only when the thread has ended, which it does only after all slices.
        let _ = self.tx.send(slice);
    }

    /// Waits until every slice handed over is uploaded (or one failed for good).
    pub fn finish(self) -> Result<(), CrError> {
        drop(self.tx);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(CrError::new(err::INNER_ERR, "the upload thread panicked")))
    }
}

fn run(target: &Target, shown: &str, cfg: &UploadCfg, rx: mpsc::Receiver<PathBuf>) -> Result<(), CrError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CrError::new(err::INNER_ERR, format!("upload runtime: {e}")))?;
    let mut failed = None;
    for slice in rx {
        if failed.is_some() {
            continue; // stays in the spool
        }
        match rt.block_on(upload(target, shown, &slice, cfg)) {
            Ok(()) if !cfg.keep_uploaded => {
                let _ = std::fs::remove_file(&slice);
            }
            Ok(()) => {}
            Err(e) => {
                tracing::warn!("{e}");
                failed = Some(e);
            }
        }
    }
    failed.map_or(Ok(()), Err)
}

async fn upload(target: &Target, shown: &str, slice: &Path, cfg: &UploadCfg) -> Result<(), CrError> {
    let name = slice
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let failed = |why: String| {
        CrError::new(
            err::RECORDFILE_UPLOAD_FAILED,
            format!("uploading {name} to {shown}: {why}"),
        )
    };
    let body = tokio::fs::read(slice).await.map_err(|e| failed(e.to_string()))?;
    let mut backoff = cfg.first_backoff;
    let mut last = String::new();
    for attempt in 0..cfg.attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
        if target.has(&name, body.len() as u64).await {
            return Ok(());
        }
        match target.put(&name, body.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(failed(last))
}

/// Whether the server has the slice already (a HEAD answering its size): an earlier attempt
/// whose answer was lost, or a resumed output.
async fn already_there(client: &reqwest::Client, url: &str, size: u64) -> bool {
    match client.head(url).send().await {
        Ok(r) if r.status().is_success() => {
            r.headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                == Some(size)
        }
        _ => false,
    }
}
