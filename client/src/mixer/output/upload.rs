//! Uploading outputs (`isUploadOnRecording: 1`): each finished slice is sent by a thread of the
//! output's own to `serverPathFileName/NAME.00000.ext`: for `http(s)://` a tus upload when the
//! server speaks tus 1.0.0 (resumed from the server's offset after a failure), otherwise one HTTP
//! PUT; one object through OpenDAL for `s3://bucket/prefix` (S3 settings from the standard `AWS_*`
//! variables). A slice the PUT or S3 target already holds at its size (HEAD, stat) is not sent
//! again; a failed send is retried with backoff a bounded number of times. A slice that fails for
//! good stops the uploads (later slices stay in the spool) and the output ends with errCode
//! RECORDFILE_UPLOAD_FAILED; the local file is never touched by any of this.

use super::super::types::{err, CrError};
pub use super::target::S3Settings;
use super::target::{Slice, Target};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// How uploading outputs cut and send their slices.
#[derive(Debug, Clone)]
pub struct UploadCfg {
    /// A new slice at the first keyframe after this many seconds.
    pub slice_secs: u32,
    /// Attempts per slice (a tus attempt that moved the server's offset on restarts the count).
    pub attempts: u32,
    /// Backoff before the second attempt (doubling, at most 30 s).
    pub first_backoff: Duration,
    /// Bytes per PATCH to a tus server (4 MiB; smaller in tests, to cut a slice mid-way).
    pub tus_chunk: usize,
    /// Keep slices in the spool after they are uploaded (tests; otherwise they are removed).
    pub keep_uploaded: bool,
    /// S3 settings for `s3://` targets; None: from the environment ([`S3Settings::from_env`]).
    pub s3: Option<S3Settings>,
}

impl Default for UploadCfg {
    fn default() -> Self {
        UploadCfg {
            slice_secs: 60,
            attempts: 6,
            first_backoff: Duration::from_millis(500),
            tus_chunk: 4 << 20,
            keep_uploaded: false,
            s3: None,
        }
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
        let mut t = Target::new(target, cfg.s3.clone())?;
        let shown = target.to_owned();
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let thread = std::thread::spawn(move || run(&mut t, &shown, &cfg, rx));
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

fn run(target: &mut Target, shown: &str, cfg: &UploadCfg, rx: mpsc::Receiver<PathBuf>) -> Result<(), CrError> {
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

async fn upload(target: &mut Target, shown: &str, path: &Path, cfg: &UploadCfg) -> Result<(), CrError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let failed = |why: String| {
        CrError::new(
            err::RECORDFILE_UPLOAD_FAILED,
            format!("uploading {name} to {shown}: {why}"),
        )
    };
    let size = tokio::fs::metadata(path)
        .await
        .map_err(|e| failed(e.to_string()))?
        .len();
    let mut slice = Slice::new(name.clone(), path, size);
    let mut backoff = cfg.first_backoff;
    let mut left = cfg.attempts.max(1);
    let mut last = None;
    while left > 0 {
        if last.is_some() {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
        left -= 1;
        let before = slice.tus.offset;
        match target.send(&mut slice, cfg.tus_chunk).await {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
        // A tus attempt that got the server further before failing starts the count afresh (as
        // tus-js-client does): a long slice on a link that drops now and then still gets there,
        // and every such reset needs the server's offset to have moved on.
        if slice.tus.offset > before {
            left = cfg.attempts.max(1) - 1;
            backoff = cfg.first_backoff;
        }
    }
    Err(failed(last.unwrap_or_default()))
}
