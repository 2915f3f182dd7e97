//! StartRecord's parameters with the seed's names and defaults, and small helpers of starting.

use super::CtlError;
use crate::api::codes;
use serde::Deserialize;
use std::path::Path;

/// StartRecord's body, with the seed's names. Absent fields take the seed's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StartParams {
    #[serde(rename = "AppProc", default)]
    pub app_proc: Option<String>,
    #[serde(rename = "Wnd", default)]
    pub wnd: Option<u32>,
    #[serde(rename = "DstPath", default)]
    pub dst_path: Option<String>,
    #[serde(rename = "x", default)]
    pub x: Option<u32>,
    #[serde(rename = "y", default)]
    pub y: Option<u32>,
    #[serde(rename = "Width", default)]
    pub width: Option<u32>,
    #[serde(rename = "Height", default)]
    pub height: Option<u32>,
    /// default 15
    #[serde(rename = "VideoFps", default)]
    pub video_fps: Option<u32>,
    /// bits per second; default 1 000 000
    #[serde(rename = "VideoBps", default)]
    pub video_bps: Option<u32>,
    /// default true
    #[serde(rename = "EnableAudio", default)]
    pub enable_audio: Option<bool>,
    /// default true
    #[serde(rename = "EnableUpload", default)]
    pub enable_upload: Option<bool>,
    /// seconds; default 300
    #[serde(rename = "SliceTime", default)]
    pub slice_time: Option<u32>,
    #[serde(rename = "ClassId", default)]
    pub class_id: Option<i64>,
    /// Not the seed's: lets the command line record the whole screen without naming a window.
    #[serde(skip)]
    pub whole_screen: bool,
}

pub(super) fn bad(msg: impl Into<String>) -> CtlError {
    CtlError::new(codes::INVALID_PARAMETER, msg)
}

/// Bytes free to an unprivileged writer on the filesystem holding `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the zeroed struct; c is a valid NUL-terminated path.
    unsafe {
        let mut s: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c.as_ptr(), &mut s) == 0).then(|| s.f_bavail as u64 * s.f_frsize as u64)
    }
}

pub(super) fn chrono_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(super) fn rand_u16() -> u16 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id()) as u16
}
