//! Receiving one chunk of an upload, then committing it in Postgres only if the upload is still at
//! the offset the chunk started from.
//!
//! - fs store ([`super::append`]): the chunk is appended to the upload's one file while the upload's
//!   running MD5 is carried on; the offset and the MD5 state move in one statement. Memory per
//!   request is a few of hyper's 64 KiB frames, whatever the chunk size; finishing is a rename.
//! - object stores ([`super::parts`]): the chunk is streamed into its own part object (the assembly
//!   at the end copies).
//!
//! Both read the body through [`pump`], which bounds its time (`body_idle`) and size (the upload's
//! remaining length).

use super::checksum::Checksum;
use super::error::{Error, Result};
use super::Ingest;
use crate::db::uploads::{self, Upload};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::future::Future;
use std::time::Duration;

/// What became of a chunk.
#[derive(Debug, PartialEq, Eq)]
pub struct Received {
    pub new_offset: i64,
    /// The client went away mid-chunk; the bytes that did arrive were kept.
    pub interrupted: bool,
}

/// Streams `body` into the store as the part at `offset` of `upload`, then commits it.
///
/// - A chunk whose `checksum` does not match is discarded ([`Error::ChecksumMismatch`]).
/// - A body that would pass `Upload-Length` is discarded ([`Error::TooLarge`]).
/// - A body cut off by the client is kept up to the cut (tus resumes from there), unless it came with
///   a checksum, which cannot be checked on half a chunk: then it is discarded.
/// - If another request moved the offset meanwhile (or, on fs, holds the upload's file for longer
///   than a few seconds), nothing is kept ([`Error::Conflict`]).
pub async fn receive<S, E>(
    ing: &Ingest,
    upload: &Upload,
    offset: i64,
    body: S,
    checksum: Option<Checksum>,
) -> Result<Received>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    // (At the end of an upload nothing can be appended: that PATCH takes the parts path, which
    // answers an empty body with the offset and anything else with 413, and leaves nothing.)
    if offset < upload.length && ing.store.append_path(upload.id).is_some() {
        // An upload that began as parts (before appending existed) goes on as parts.
        let appending = offset == 0
            || uploads::append_state(&ing.db, upload.id)
                .await?
                .is_some_and(|a| a.append);
        if appending {
            return super::append::receive(ing, upload, offset, body, checksum).await;
        }
    }
    super::parts::receive(ing, upload, offset, body, checksum).await
}

/// Where [`pump`] puts a chunk's bytes as they arrive.
pub(super) trait Target {
    fn put(&mut self, data: Bytes) -> impl Future<Output = Result<()>> + Send;
}

/// How a chunk's body ended.
#[derive(Debug, Default)]
pub(super) struct Pumped {
    pub received: i64,
    /// The client went away (or stalled) mid-chunk.
    pub interrupted: bool,
    /// No byte came for `body_idle`.
    pub stalled: bool,
    /// The body passed the upload's length, or the target failed.
    pub failure: Option<Error>,
}

/// Reads `body` into `target` until it ends, is cut off, stalls for `idle`, or passes `remaining`.
pub(super) async fn pump<S, E, T>(
    body: &mut S,
    target: &mut T,
    remaining: i64,
    idle: Duration,
    upload: &Upload,
    offset: i64,
) -> Pumped
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
    T: Target,
{
    let mut p = Pumped::default();
    p.failure = loop {
        let Ok(next) = tokio::time::timeout(idle, body.next()).await else {
            tracing::info!(upload = %upload.id, offset, received = p.received, "chunk stalled: no byte for {} s", idle.as_secs());
            (p.interrupted, p.stalled) = (true, true);
            break None;
        };
        match next {
            Some(Ok(chunk)) => {
                p.received += chunk.len() as i64;
                if p.received > remaining {
                    break Some(Error::TooLarge(format!(
                        "chunk passes Upload-Length: {remaining} bytes remain from offset {offset}"
                    )));
                }
                if let Err(e) = target.put(chunk).await {
                    break Some(e);
                }
            }
            Some(Err(e)) => {
                tracing::info!(upload = %upload.id, offset, received = p.received, "chunk interrupted: {e}");
                p.interrupted = true;
                break None;
            }
            None => break None,
        }
    };
    p
}

/// The checksum's verdict on a whole chunk whose digest (of the checksum's algorithm) is `digest`.
pub(super) fn check(
    checksum: Option<&Checksum>,
    interrupted: bool,
    digest: impl FnOnce(&Checksum) -> Vec<u8>,
) -> Option<Error> {
    match (checksum, interrupted) {
        (Some(_), true) => Some(Error::Invalid(
            "chunk interrupted; a chunk with Upload-Checksum is kept only whole".into(),
        )),
        (Some(c), false) => c.verify_digest(&digest(c)).err(),
        (None, _) => None,
    }
}

/// A chunk of which nothing arrived: the offset stays, or, if the client stalled, say so.
pub(super) fn nothing(p: &Pumped, idle: Duration, offset: i64) -> Result<Received> {
    if p.stalled {
        return Err(Error::Timeout(format!(
            "the body sent nothing for {} s; resume at Upload-Offset {offset}",
            idle.as_secs()
        )));
    }
    Ok(Received {
        new_offset: offset,
        interrupted: p.interrupted,
    })
}

/// A committed chunk: the new offset, or, if the client stalled, that what arrived was kept.
pub(super) fn kept(p: &Pumped, idle: Duration, new_offset: i64) -> Result<Received> {
    if p.stalled {
        return Err(Error::Timeout(format!(
            "the body sent nothing for {} s; the {} bytes that arrived were kept: resume at Upload-Offset {new_offset}",
            idle.as_secs(),
            p.received
        )));
    }
    Ok(Received {
        new_offset,
        interrupted: p.interrupted,
    })
}

/// Another request moved the offset between this chunk's start and its commit.
pub(super) fn moved() -> Error {
    Error::Conflict("another request moved Upload-Offset while this chunk was received".into())
}
