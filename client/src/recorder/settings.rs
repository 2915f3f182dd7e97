//! The recorder's settings (the command line's flags), and the seed's vocabulary for refusals
//! and auth states.

use super::keepalive;
use crate::capture::{AudioSource, VideoSource};
use std::path::PathBuf;

/// How the recorder is set up (flags of `localrecord-recorder`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The localrecord server, e.g. `https://rec.example.com`.
    pub server: String,
    /// Task book, upload journal and pending slices.
    pub data_dir: PathBuf,
    pub video: VideoSource,
    /// Used when a recording asks for audio (`EnableAudio`).
    pub audio: AudioSource,
    /// Slices uploaded at the same time.
    pub parallel_uploads: usize,
    /// StartRecord answers -10005 when less than this is free where slices or DstPath go.
    pub min_free_bytes: u64,
    pub upload: crate::upload::Options,
    /// Directories a StartRecord's DstPath may name a file in (see `dst`).
    pub dst_dirs: Vec<PathBuf>,
    /// How often a recording (or paused) task tells the server it is alive (see `keepalive`).
    pub keepalive: std::time::Duration,
    /// Slice length of mixer outputs uploaded while recording, seconds.
    pub mixer_slice_secs: u32,
    /// Encrypt slices and DstPath files with this key (issue 14); its Debug shows the key id only.
    pub key: Option<std::sync::Arc<localrecord_crypt::Key>>,
}

impl Default for Settings {
    /// The command line's defaults, except the picture: a test pattern (headless-safe).
    fn default() -> Settings {
        Settings {
            server: "http://127.0.0.1:8080".into(),
            data_dir: PathBuf::from("localrecord-recorder"),
            video: VideoSource::Test {
                width: 640,
                height: 360,
            },
            audio: AudioSource::Auto,
            parallel_uploads: 3,
            min_free_bytes: 500 << 20,
            upload: Default::default(),
            dst_dirs: Vec::new(),
            keepalive: keepalive::DEFAULT_EVERY,
            mixer_slice_secs: 60,
            key: None,
        }
    }
}

/// A refusal in the seed's terms: `Response.Error.Code` and `Message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlError {
    pub code: i64,
    pub message: String,
}

impl CtlError {
    pub fn new(code: i64, message: impl Into<String>) -> CtlError {
        CtlError {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for CtlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// The seed's auth states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthState {
    NotAuthenticated,
    Authoring,
    Failed,
    Success,
}

impl AuthState {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthState::NotAuthenticated => "Not Authentication",
            AuthState::Authoring => "Authoring",
            AuthState::Failed => "Auth Failed",
            AuthState::Success => "Auth Success",
        }
    }
}
