//! The tus 1.0.0 constants both sides use, and the slice metadata keys of `Upload-Metadata`.

/// `Tus-Resumable` / `Tus-Version`.
pub const VERSION: &str = "1.0.0";
/// The extensions the server offers (`Tus-Extension`).
pub const EXTENSIONS: &str = "creation,creation-with-upload,expiration,checksum,termination,concatenation";
/// The content type of a PATCH body (and of creation-with-upload).
pub const OFFSET_CONTENT_TYPE: &str = "application/offset+octet-stream";

/// `Upload-Metadata` keys of a slice upload.
pub mod metadata {
    /// The task the slice belongs to (a [`crate::TaskId`]).
    pub const TASK_ID: &str = "task_id";
    /// The slice's index within its task, from 0.
    pub const SLICE_INDEX: &str = "slice_index";
    /// The slice's file name on the recorder (a plain name, no path).
    pub const FILENAME: &str = "filename";
    /// Present when the slice is encrypted (issue 14): the format, [`ENCRYPTION_V1`].
    pub const ENCRYPTION: &str = "encryption";
    /// With [`ENCRYPTION`]: the id of the key it is encrypted with (16 hex digits).
    pub const KEY_ID: &str = "key_id";
    /// localrecord's encrypted format, version 1 (`localrecord-crypt`; documented in the README).
    pub const ENCRYPTION_V1: &str = "lrcrypt-v1";
}
