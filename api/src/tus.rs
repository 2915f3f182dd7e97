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
}
