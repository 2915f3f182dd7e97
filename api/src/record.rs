//! The record of one spliced recording: an element of the query API's `record_info_list` and the
//! body of the result callback (which adds `SdkAppId`, `State` and, when they apply,
//! `MissingSlices` and `FailureReason`).

use serde::{Deserialize, Serialize};

/// One record, fields exactly as the seed's `record_info_list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordInfo {
    #[serde(rename = "RoomId")]
    pub room_id: i64,
    #[serde(rename = "UserId")]
    pub user_id: String,
    #[serde(rename = "TaskId")]
    pub task_id: String,
    #[serde(rename = "StartTime")]
    pub start_time: i64,
    #[serde(rename = "SplicTime")]
    pub splic_time: i64,
    #[serde(rename = "VideoOutputType")]
    #[cfg_attr(feature = "openapi", schema(example = "mp4"))]
    pub video_output_type: String,
    #[serde(rename = "VideoOutputId")]
    pub video_output_id: String,
    #[serde(rename = "VideoOutputUrl")]
    pub video_output_url: String,
    #[serde(rename = "VideoOutputSize")]
    pub video_output_size: i64,
    #[serde(rename = "VideoOutputDuration")]
    pub video_output_duration: i64,
    /// Ours (issue 14), only on an encrypted recording: the MP4 at `VideoOutputUrl` is in
    /// localrecord's encrypted format; admins download it decrypted from
    /// `/localrecord/v1/tasks/{TaskId}/recording.mp4`.
    #[serde(rename = "Encrypted", default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
    /// Ours, only on an encrypted recording: the id of the app recording key it is encrypted with.
    #[serde(rename = "KeyId", default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

/// The result callback's body (the `recording-result` webhook): the record, plus the task's
/// outcome. `VideoOutputUrl` is empty when there is no MP4 (a failed task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackBody {
    #[serde(flatten)]
    pub record: RecordInfo,
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: i64,
    /// done, partial or failed
    #[serde(rename = "State")]
    pub state: String,
    /// The declared slices the recording lacks (partial only).
    #[serde(rename = "MissingSlices", default, skip_serializing_if = "Vec::is_empty")]
    pub missing_slices: Vec<i32>,
    /// Why the task failed (failed only).
    #[serde(rename = "FailureReason", default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}
