//! Uploading outputs (`isUploadOnRecording: 1`): each finished slice is sent by a thread of the
//! output's own with one HTTP PUT to `serverPathFileName/NAME.00000.ext`. A slice whose HEAD
//! already shows its size is not sent again; a failed PUT is retried with backoff a bounded
//! number of times. A slice that fails for good stops the uploads (later slices stay in the
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
}

impl Default for UploadCfg {
    fn default() -> Self {
        UploadCfg {
            slice_secs: 60,
            attempts: 6,
            first_backoff: Duration::from_millis(500),
            keep_uploaded: false,
        }
    }
}

/// Whether `target` is an upload destination this build sends slices to.
pub fn supported(target: &str) -> bool {
    let t = target.to_ascii_lowercase();
    (t.starts_with("http://") || t.starts_with("https://")) && reqwest::Url::parse(target).is_ok()
}

/// The thread sending one output's slices, in order.
pub struct Uploader {
    tx: mpsc::Sender<PathBuf>,
    thread: std::thread::JoinHandle<Result<(), CrError>>,
}

impl Uploader {
    pub fn start(base: String, cfg: UploadCfg) -> Uploader {
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let thread = std::thread::spawn(move || run(&base, &cfg, rx));
        Uploader { tx, thread }
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

fn run(base: &str, cfg: &UploadCfg, rx: mpsc::Receiver<PathBuf>) -> Result<(), CrError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CrError::new(err::INNER_ERR, format!("upload runtime: {e}")))?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| CrError::new(err::INNER_ERR, format!("HTTP client: {e}")))?;
    let mut failed = None;
    for slice in rx {
        if failed.is_some() {
            continue; // stays in the spool
        }
        match rt.block_on(upload(&client, base, &slice, cfg)) {
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

async fn upload(client: &reqwest::Client, base: &str, slice: &Path, cfg: &UploadCfg) -> Result<(), CrError> {
    let name = slice
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let url = format!("{}/{name}", base.trim_end_matches('/'));
    let failed = |why: String| {
        CrError::new(
            err::RECORDFILE_UPLOAD_FAILED,
            format!("uploading {name} to {base}: {why}"),
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
        if already_there(client, &url, body.len() as u64).await {
            return Ok(());
        }
        match client.put(&url).body(body.clone()).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) => last = e.to_string(),
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
