//! The contract between `localrecord:` outputs and the recorder that uploads them.

use super::types::CrError;
use std::path::PathBuf;

/// What a `localrecord:` output asks of the server's task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedTask {
    /// From `localrecord:CLASSID`.
    pub class_id: i64,
    pub slice_secs: u32,
    pub fps: u32,
    pub audio: bool,
    pub width: u32,
    pub height: u32,
}

/// The recorder's own upload to our server, for outputs whose `serverPathFileName` is
/// `localrecord:CLASSID`: the server's task, the task book and the journaled tus queue of the TIC
/// flow, so these slices survive crashes, outages and reboots as StartRecord's do. Implemented by
/// the recorder; the mixer knows nothing of the server. Called from the mixer's threads (never
/// from async code): `begin` may wait for the server, briefly.
pub trait TaskFeed: Send + Sync {
    /// Creates the server's task and its book entry; returns the TaskId and the directory its
    /// FLV slices are written in (`crate::engine::slice_path` names).
    fn begin(&self, task: &FeedTask) -> Result<(String, PathBuf), CrError>;
    /// Slice `index` is being written (after a crash it is kept up to its last frame).
    fn slice_opened(&self, task_id: &str, index: i32);
    /// Slice `index` is complete: the queue uploads it.
    fn slice_closed(&self, task_id: &str, index: i32, duration_ms: i64, size: u64);
    /// The recording ended with slices `0..count`: the queue stops the task once they are
    /// uploaded (a task with none is stopped at once).
    fn finished(&self, task_id: &str, count: i32);
}

/// `localrecord:1212` -> 1212 (a positive ClassId); None for any other target.
pub fn class_of(target: &str) -> Option<Result<i64, String>> {
    let rest = target.strip_prefix("localrecord:")?;
    Some(match rest.parse::<i64>() {
        Ok(c) if c > 0 => Ok(c),
        _ => Err(format!(
            "{target:?}: localrecord: needs a positive ClassId (localrecord:1212)"
        )),
    })
}
