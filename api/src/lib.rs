//! Wire types shared by the recorder and the server. Field names follow the TIC seed (PascalCase
//! inside a `{"Response": {...}}` envelope); new fields are only ever added, optional.
//!
//! Kept small on purpose (serde, and utoipa behind `openapi`): the server depends on this crate
//! alone, not on the recorder and its capture code.

pub mod record;
pub mod task_id;
pub mod tus;

pub use record::{CallbackBody, RecordInfo};
pub use task_id::{is_safe_task_id, is_server_task_id, TaskId};

use serde::{Deserialize, Serialize};

/// Error codes in `Response.Error.Code`. -10000..-10005 are the TIC seed's; the rest are ours.
pub mod codes {
    /// Bad parameter (seed).
    pub const INVALID_PARAMETER: i64 = -10000;
    /// Authentication failed: unknown app, bad, forged or expired UserSig (seed).
    pub const AUTH_FAILED: i64 = -10001;
    /// DstPath is wrong (seed, recorder only).
    pub const BAD_DST_PATH: i64 = -10002;
    /// Push URL is wrong (seed, recorder only).
    pub const BAD_PUSH_URL: i64 = -10003;
    /// DWM is off on the recording machine (seed, recorder only).
    pub const DWM_OFF: i64 = -10004;
    /// No space left for the recording (seed, recorder only).
    pub const NO_SPACE: i64 = -10005;
    /// Authenticated, but not allowed: local recording disabled, or another user's task.
    pub const FORBIDDEN: i64 = -10006;
    /// No such task, upload or recording.
    pub const NOT_FOUND: i64 = -10007;
    /// The request conflicts with the current state (wrong offset, already stopped differently).
    pub const CONFLICT: i64 = -10008;
    /// Larger than the configured maximum.
    pub const TOO_LARGE: i64 = -10009;
    /// A chunk did not match its checksum and was discarded.
    pub const CHECKSUM_MISMATCH: i64 = -10010;
    /// The client sent nothing for too long (a stalled request body); what arrived was kept.
    pub const TIMEOUT: i64 = -10011;
    /// Too many requests (failed authentications from one address) or connections: retry after
    /// the `Retry-After` header's seconds.
    pub const BUSY: i64 = -10012;
    /// A quota of the server's was reached (`quota.*`): 403 when retrying cannot help, 429 or 507
    /// (retried) when finishing uploads or freeing space can.
    pub const QUOTA_EXCEEDED: i64 = -10013;
    /// Server-side failure; the message carries a RequestId to find in the server log.
    pub const INTERNAL: i64 = -10099;
}

/// `{"Response": T}`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    #[serde(rename = "Response")]
    pub response: T,
}

/// The `Response` of a successful call: the answer's own fields, and `RequestId`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answer<T> {
    #[serde(flatten)]
    pub body: T,
    #[serde(rename = "RequestId", default)]
    pub request_id: String,
}

/// The `Response` of a failed call: `{"Error": {"Code": ..., "Message": ...}, "RequestId": ...}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorResponse {
    #[serde(rename = "Error")]
    pub error: ErrorBody,
    /// The server's (absent from the recorder's local control API, which has none).
    #[serde(rename = "RequestId", default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    #[serde(rename = "Code")]
    pub code: i64,
    #[serde(rename = "Message")]
    pub message: String,
}

/// `POST /localrecord/v1/auth` answer (the recorder's Init).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthInfo {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "UserId")]
    pub user_id: String,
    /// Unix time after which the presented UserSig is refused.
    #[serde(rename = "ExpireTime")]
    pub expire_time: i64,
}

/// `POST /localrecord/v1/tasks` body. Only `ClassId` is required; the rest are the recording
/// parameters of the seed's StartRecord, kept with the task for reference.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTask {
    #[serde(rename = "ClassId")]
    pub class_id: i64,
    #[serde(rename = "VideoFps", default, skip_serializing_if = "Option::is_none")]
    pub video_fps: Option<u32>,
    #[serde(rename = "VideoBps", default, skip_serializing_if = "Option::is_none")]
    pub video_bps: Option<u32>,
    #[serde(rename = "EnableAudio", default, skip_serializing_if = "Option::is_none")]
    pub enable_audio: Option<bool>,
    #[serde(rename = "SliceTime", default, skip_serializing_if = "Option::is_none")]
    pub slice_time: Option<u32>,
    #[serde(rename = "Width", default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(rename = "Height", default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskCreated {
    #[serde(rename = "TaskId")]
    pub task_id: String,
}

/// `POST /localrecord/v1/tasks/{TaskId}/stop` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StopTask {
    /// How many slices the recording produced (indexes 0..SliceCount).
    #[serde(rename = "SliceCount")]
    pub slice_count: i32,
}

/// Upload state of one slice, in the seed's GetState vocabulary.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SliceState {
    /// nothing received yet
    #[serde(rename = "wait")]
    Wait,
    /// an upload is open for it
    #[serde(rename = "uploading")]
    Uploading,
    /// stored whole and verified
    #[serde(rename = "uploaded")]
    Uploaded,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SliceStatus {
    #[serde(rename = "Index")]
    pub index: i32,
    #[serde(rename = "State")]
    pub state: SliceState,
    /// bytes stored (uploaded) or received so far (uploading)
    #[serde(rename = "Size")]
    pub size: i64,
    /// total bytes of the upload in progress
    #[serde(rename = "Length", default, skip_serializing_if = "Option::is_none")]
    pub length: Option<i64>,
    /// lowercase hex MD5 of the stored slice
    #[serde(rename = "Md5", default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
}

/// `GET /localrecord/v1/tasks/{TaskId}` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskStatus {
    #[serde(rename = "TaskId")]
    pub task_id: String,
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: u64,
    #[serde(rename = "ClassId")]
    pub class_id: i64,
    #[serde(rename = "UserId")]
    pub user_id: String,
    /// recording, paused, uploading, splicing, done, failed, partial
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "SliceCount", default)]
    pub slice_count: Option<i32>,
    /// Unix seconds
    #[serde(rename = "StartTime")]
    pub start_time: i64,
    #[serde(rename = "Slices")]
    pub slices: Vec<SliceStatus>,
    /// Indexes below SliceCount not yet stored (empty before stop); for a partial recording, the
    /// slices it lacks.
    #[serde(rename = "MissingSlices")]
    pub missing_slices: Vec<i32>,
    /// The spliced MP4 (once spliced): the seed's callback fields.
    #[serde(rename = "VideoOutputId", default, skip_serializing_if = "Option::is_none")]
    pub video_output_id: Option<String>,
    #[serde(rename = "VideoOutputUrl", default, skip_serializing_if = "Option::is_none")]
    pub video_output_url: Option<String>,
    /// bytes
    #[serde(rename = "VideoOutputSize", default, skip_serializing_if = "Option::is_none")]
    pub video_output_size: Option<i64>,
    /// ms
    #[serde(rename = "VideoOutputDuration", default, skip_serializing_if = "Option::is_none")]
    pub video_output_duration: Option<i64>,
    /// Unix time of the last splice
    #[serde(rename = "SplicTime", default, skip_serializing_if = "Option::is_none")]
    pub splic_time: Option<i64>,
    /// how long the last splice took, ms
    #[serde(rename = "SpliceMs", default, skip_serializing_if = "Option::is_none")]
    pub splice_ms: Option<i64>,
    /// why the task failed
    #[serde(rename = "FailureReason", default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Only on an encrypted recording (issue 14): the MP4 is in localrecord's encrypted format.
    #[serde(rename = "Encrypted", default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
    /// Only on an encrypted recording: the id of the app recording key it is encrypted with.
    #[serde(rename = "KeyId", default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

impl TaskStatus {
    /// The states after which nothing more will happen to the recording (unless a late slice
    /// makes the server splice it again).
    pub const FINISHED: [&'static str; 3] = ["done", "partial", "failed"];

    /// Spliced, spliced without some slices, or given up on.
    pub fn is_finished(&self) -> bool {
        Self::FINISHED.contains(&self.state.as_str())
    }
}
