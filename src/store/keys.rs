//! Object key layout. Keys are built only from server-made identifiers (UUIDs, [`TaskId`]s, which
//! are checked where they enter, and integers), never from client-supplied names, so no input can
//! reach outside its prefix.

use localrecord_api::TaskId;
use uuid::Uuid;

pub const PROBE_DIR: &str = ".probe";

/// fs only: where objects are written before they are renamed into place.
pub const PARTIAL_DIR: &str = ".partial";

/// Every stored slice lives under this prefix, as `slices/{task_id}/...`.
pub const SLICES: &str = "slices/";

/// Every spliced recording lives under this prefix, as `recordings/{task_id}/...`.
pub const RECORDINGS: &str = "recordings/";

/// Everything an upload has stored; deleting this prefix frees an upload completely.
pub fn upload_prefix(upload: Uuid) -> String {
    format!("uploads/{upload}/")
}

/// One received chunk of an upload. The random suffix keeps two racing PATCHes at the same offset
/// from ever writing the same object: only the one whose Postgres commit wins is kept.
pub fn upload_part(upload: Uuid, offset: i64) -> String {
    format!("uploads/{upload}/{offset:020}-{}", Uuid::new_v4().simple())
}

/// fs only: the one file an upload's chunks are appended to. The suffix (the upload's id) makes the
/// slice it becomes ([`slice_from_part`]) unique per upload and the same for every finisher.
pub fn upload_append(upload: Uuid) -> String {
    format!("uploads/{upload}/append-{}", upload.simple())
}

/// A stored slice. Unique per assembly, so a lost race never overwrites the slice that won.
pub fn slice(task_id: &TaskId, index: i32) -> String {
    format!("slices/{task_id}/{index:06}-{}.flv", Uuid::new_v4().simple())
}

/// Where a one-part slice's part is moved to. Derived from the part key (not random) so that a
/// finisher that crashed right after the move, or lost a race, finds the slice there.
pub fn slice_from_part(task_id: &TaskId, index: i32, part_key: &str) -> String {
    let suffix = part_key.rsplit('-').next().unwrap_or("part");
    format!("slices/{task_id}/{index:06}-{suffix}.flv")
}

/// fs only: everything the splice prepares for a task while it records (`splice::piece`).
pub fn assembly_prefix(task_id: &TaskId) -> String {
    format!("assembly/{task_id}/")
}

/// fs only: the task's body file, the prepared media of its slices back to back.
pub fn assembly_body(task_id: &TaskId) -> String {
    format!("assembly/{task_id}/body")
}

/// Object stores: one prepared slice's media (what the fs store appends to the body), under a name
/// of its own per preparation, so a crashed or raced preparation never overwrites a piece a row
/// names.
pub fn assembly_piece(task_id: &TaskId, index: i32) -> String {
    format!("assembly/{task_id}/piece-{index:06}-{}", Uuid::new_v4().simple())
}

/// Object stores: the index (the MP4's head) of a recording served from its parts until it is
/// composed (`store::parts`), under a name of each splice's own.
pub fn assembly_head(task_id: &TaskId) -> String {
    format!("assembly/{task_id}/head-{}", Uuid::new_v4().simple())
}

/// fs only: a body being made an MP4 at the stop, under a name of that run's own (moved here
/// first, so the rows that describe the body no longer find it, should the stop not finish).
pub fn assembly_final(task_id: &TaskId, run: &str) -> String {
    format!("assembly/{task_id}/final-{run}.mp4")
}

/// A spliced recording. Unique per splice, so a re-splice never overwrites the MP4 being served.
pub fn recording(task_id: &TaskId, video_output_id: &str) -> String {
    format!("recordings/{task_id}/{video_output_id}-{}.mp4", Uuid::new_v4().simple())
}
