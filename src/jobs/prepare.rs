//! The prepare job and the stop's fast path: each slice is prepared as it lands (`splice::piece`:
//! checked, its media appended to the task's body file, its packet table kept in `slice_pieces`),
//! so that the splice at the stop only replays the tables, writes the index and puts it in front
//! of the body (`splice::assemble`): seconds whatever the class's length. On the fs store the body
//! file is appended to in place; on object stores each piece is an object of its own, the
//! recording is served from the index and the pieces until it is made one object ([`objects`],
//! `jobs::compose`: server-side copy on S3, streamed on OSS and COS).
//! `jobs.prepare_slices = false` turns it off.
//!
//! Everything that touches a task's body holds `db::pieces::lock`. The rows describe the body;
//! a body shorter than they say (consumed by a stop that did not publish, or lost) voids them and
//! the slices are prepared again, so no crash can leave a recording made of the wrong bytes.

use super::Context;
use super::{queue, JobError};
use crate::db::checks;
use crate::db::pieces::{self, PieceRow};
use crate::db::slices::{self, Slice};
use crate::db::tasks;
use crate::progress::Progress;
use crate::splice::assemble::{self, Prepared};
use crate::splice::piece::{self, Entry, PieceMeta};
use crate::splice::Summary;
use crate::store::keys;
use anyhow::anyhow;
use localrecord_api::TaskId;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod objects;

pub const KIND: &str = "prepare";

/// Most bytes of packet tables a stop reads (a 3-hour class of recorder slices has ~25 MB).
const MAX_TABLES_BYTES: i64 = 256 << 20;

/// Payload of a prepare job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrepareJob {
    pub task_id: String,
    pub slice_index: i32,
}

/// Where a task's prepared media goes, when slices are prepared (`jobs.prepare_slices`).
#[derive(Debug, Clone)]
pub enum Body {
    /// fs store: one file, every piece's media back to back (`keys::assembly_body`).
    File(PathBuf),
    /// Object stores: one object per piece (`keys::assembly_piece`); the stop publishes the
    /// recording as the index and these (`objects`), made one object later (`jobs::compose`).
    Objects,
}

/// Where the task's prepared media goes; None when slices are not prepared.
pub fn body(ctx: &Context, task_id: &TaskId) -> Option<Body> {
    if !ctx.settings.jobs.prepare_slices {
        return None;
    }
    match ctx.store.local_path(&keys::assembly_body(task_id)) {
        Some(path) => Some(Body::File(path)),
        None => Some(Body::Objects),
    }
}

/// Whether slices are prepared as they land (on every store).
pub fn enabled(jobs: &crate::config::JobSettings) -> bool {
    jobs.prepare_slices
}

/// After a slice is stored (when [`enabled`]).
pub async fn enqueue(db: &sqlx::PgPool, task_id: &str, slice_index: i32) -> sqlx::Result<()> {
    let payload = serde_json::to_value(PrepareJob {
        task_id: task_id.to_owned(),
        slice_index,
    })
    .expect("serialisable");
    let key = format!("{KIND}:{task_id}:{slice_index}");
    queue::enqueue(db, KIND, &key, &payload, Duration::ZERO).await
}

pub async fn run(ctx: &Context, job: PrepareJob, progress: &Progress) -> Result<(), JobError> {
    let task_id = super::task_id(&job.task_id)?;
    let Some(body) = body(ctx, &task_id) else {
        return Ok(());
    };
    let Some(slice) = slices::get(&ctx.db, &task_id, job.slice_index).await? else {
        return Ok(());
    };
    if slice.key_id.is_some() {
        // Encrypted: a prepared piece would be plaintext on disk; its task splices whole, sealed.
        return Ok(());
    }
    let mut tx = ctx.db.begin().await?;
    pieces::lock(&mut tx, &task_id).await?;
    // Once the stop has begun, it prepares what is missing itself: a piece made now would go
    // into a body the stop has already consumed.
    let task = tasks::get(&mut *tx, &task_id).await?;
    if !task.is_some_and(|t| t.state.is_open()) {
        return Ok(());
    }
    ensure(ctx, &mut tx, &body, &task_id, &[slice], progress).await?;
    tx.commit().await?;
    Ok(())
}

/// Prepares those of `want` that have no piece yet (appending to the body file, or as objects of
/// their own). The caller holds the task's lock in `tx`.
async fn ensure(
    ctx: &Context,
    tx: &mut PgConnection,
    body: &Body,
    task_id: &TaskId,
    want: &[Slice],
    progress: &Progress,
) -> Result<(), JobError> {
    let (have, mut end) = match body {
        Body::File(path) => valid_file(tx, path, task_id).await?,
        Body::Objects => objects::valid(ctx, tx, task_id).await?,
    };
    let known = checks::for_task(&mut *tx, task_id.as_str()).await?;
    for s in want.iter().filter(|s| !have.contains(&s.slice_index)) {
        let started = Instant::now();
        let given = known.get(&s.slice_index).cloned();
        let (made, piece_key) = match body {
            Body::File(path) => {
                let Some(slice) = ctx.store.local_path(&s.object_key) else {
                    return Err(JobError::Permanent(anyhow!(
                        "slice {} is not a local file",
                        s.slice_index
                    )));
                };
                (
                    prepare_into(ctx, slice, (path.clone(), end as u64), given, progress).await?,
                    None,
                )
            }
            Body::Objects => objects::prepare(ctx, task_id, s, given, progress).await?,
        };
        let row = PieceRow {
            slice_index: s.slice_index,
            body_offset: end,
            media_len: made.media_len as i64,
            meta: serde_json::to_value(&made.meta).expect("serialisable"),
            samples: piece::encode_entries(&made.entries),
            piece_key,
        };
        pieces::insert(tx, task_id, &row).await?;
        if let Some(bad) = &made.meta.bad_keyframes {
            checks::save(&mut *tx, task_id.as_str(), s.slice_index, bad).await?;
        }
        end += made.media_len as i64;
        tracing::info!(task = %task_id, index = s.slice_index, packets = made.entries.len(), bytes = made.media_len, outcome = ?made.meta.outcome, ms = started.elapsed().as_millis() as u64, "slice prepared");
    }
    Ok(())
}

/// fs: which slices have a piece and where the body's valid bytes end; every row is voided when
/// the body is gone or shorter than they say.
async fn valid_file(tx: &mut PgConnection, body: &Path, task_id: &str) -> Result<(Vec<i32>, i64), JobError> {
    let (have, end) = pieces::extent(tx, task_id).await?;
    // No body yet is the normal start (no rows either): only rows it lacks are news.
    let short = match std::fs::metadata(body) {
        Ok(m) => (m.len() as i64) < end,
        Err(_) => !have.is_empty(),
    };
    if short {
        tracing::info!(
            task = task_id,
            "the prepared body is gone or short; preparing the slices again"
        );
        pieces::clear(tx, task_id).await?;
        return Ok((Vec::new(), 0));
    }
    Ok((have, end))
}

/// Prepares the slice at `slice` into the file at `out` from byte `at` on (what lies past `at` is
/// what a crashed preparation left, and is overwritten).
async fn prepare_into(
    ctx: &Context,
    slice: PathBuf,
    (out, at): (PathBuf, u64),
    known: Option<Vec<u32>>,
    progress: &Progress,
) -> Result<piece::Piece, JobError> {
    let (progress, cap) = (progress.clone(), ctx.settings.jobs.piece_max_packets);
    tokio::task::spawn_blocking(move || -> anyhow::Result<piece::Piece> {
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::File::options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&out)?;
        f.set_len(at)?;
        f.seek(SeekFrom::Start(at))?;
        let opts = piece::Options {
            known: known.as_deref(),
            ..piece::Options::landing(cap)
        };
        piece::prepare(&slice, &mut f, opts, &progress)
    })
    .await
    .map_err(|e| JobError::Retry(anyhow!("the preparation thread: {e}")))?
    .map_err(JobError::Retry)
}

/// A piece row read back; None when it is not of this version's layout.
fn decode(row: &PieceRow) -> Option<(PieceMeta, Vec<Entry>)> {
    let meta: PieceMeta = serde_json::from_value(row.meta.clone()).ok()?;
    (meta.version == piece::VERSION).then_some(())?;
    Some((meta, piece::decode_entries(&row.samples)?))
}

/// Every stored slice's piece row with its decoded tables, in slice order (preparing what is
/// missing first, and everything again if a piece is of an older layout). None: the tables are too
/// large to read at once, and a task of very many slices is left to the whole splice, which streams.
pub(super) type Tables = Vec<(PieceRow, (PieceMeta, Vec<Entry>))>;

async fn tables(
    ctx: &Context,
    tx: &mut PgConnection,
    body: &Body,
    task_id: &TaskId,
    stored: &[Slice],
    progress: &Progress,
) -> Result<Option<Tables>, JobError> {
    ensure(ctx, tx, body, task_id, stored, progress).await?;
    if pieces::table_bytes(&mut *tx, task_id).await? > MAX_TABLES_BYTES {
        tracing::info!(
            task = %task_id,
            "splicing the classic way: the packet tables are too large to read at once"
        );
        return Ok(None);
    }
    // Each table is decoded once (they are the stop's largest read).
    let read =
        |rows: Vec<PieceRow>| -> Option<Vec<_>> { rows.into_iter().map(|r| decode(&r).map(|d| (r, d))).collect() };
    let rows = match read(pieces::for_task(tx, task_id).await?) {
        Some(rows) => rows,
        None => {
            // Pieces of an older layout: prepare them all again.
            pieces::clear(&mut *tx, task_id).await?;
            ensure(ctx, tx, body, task_id, stored, progress).await?;
            read(pieces::for_task(tx, task_id).await?)
                .ok_or_else(|| JobError::Retry(anyhow!("a piece was unreadable right after it was made")))?
        }
    };
    if rows.len() != stored.len() {
        return Err(JobError::Retry(anyhow!(
            "{} slices but {} pieces",
            stored.len(),
            rows.len()
        )));
    }
    Ok(Some(rows))
}

/// What the stop's fast path made.
pub enum Assembled {
    /// fs: the MP4, a local file in the store's filesystem, for the caller to put in place.
    File(Summary, PathBuf),
    /// Object stores: the MP4 as parts (its index, stored as an object of its own, then the
    /// pieces), for the caller to publish; the store makes them one object later.
    Parts(Summary, Vec<crate::store::parts::Extent>),
}

/// The stop's fast path: every stored slice prepared (those still missing, now), the index
/// written and the MP4 made of it and the prepared media (on object stores, as parts).
/// None: splice the classic way.
pub async fn assemble(
    ctx: &Context,
    task_id: &TaskId,
    stored: &[Slice],
    progress: &Progress,
) -> Result<Option<Assembled>, JobError> {
    Ok(match body(ctx, task_id) {
        None => None,
        Some(Body::File(path)) => assemble_file(ctx, task_id, stored, &path, progress)
            .await?
            .map(|(s, p)| Assembled::File(s, p)),
        Some(Body::Objects) => objects::assemble(ctx, task_id, stored, progress)
            .await?
            .map(|(s, parts)| Assembled::Parts(s, parts)),
    })
}

/// fs: the index put in front of the body file; returns the summary and the MP4.
///
/// The task's lock is held only until the body is consumed (moved to a name of this run's own,
/// its rows deleted, in one transaction), never across the publish: a run that stalls after that
/// (frozen, or past its lease) holds nothing up, and the run that replaces it prepares the slices
/// again.
async fn assemble_file(
    ctx: &Context,
    task_id: &TaskId,
    stored: &[Slice],
    body: &Path,
    progress: &Progress,
) -> Result<Option<(Summary, PathBuf)>, JobError> {
    let started = Instant::now();
    let mut tx = ctx.db.begin().await?;
    pieces::lock(&mut tx, task_id).await?;
    let file = Body::File(body.to_owned());
    let Some(rows) = tables(ctx, &mut tx, &file, task_id, stored, progress).await? else {
        return Ok(None);
    };
    let body_len = rows
        .iter()
        .map(|(r, _)| (r.body_offset + r.media_len) as u64)
        .max()
        .unwrap_or(0);
    let align = assemble::block_size(body.parent().unwrap_or(Path::new(".")));
    let prepared: Vec<Prepared> = rows
        .iter()
        .zip(stored)
        .map(|((r, (meta, entries)), s)| Prepared {
            path: ctx.store.local_path(&s.object_key).unwrap_or_default(),
            meta,
            entries: std::borrow::Cow::Borrowed(entries),
            body_offset: r.body_offset as u64,
        })
        .collect();
    let plan = match assemble::plan(prepared, body_len, assemble::Room::Aligned(align)) {
        Ok(p) => p,
        Err(why) => {
            tracing::info!(task = %task_id, "splicing the classic way: {why}");
            return Ok(None);
        }
    };
    // The body becomes this run's: moved out of the rows' reach and the rows deleted together
    // (a crash between the two leaves rows without a body, which voids them).
    let fin_key = keys::assembly_final(task_id, &uuid::Uuid::new_v4().simple().to_string());
    let fin = ctx
        .store
        .local_path(&fin_key)
        .ok_or_else(|| JobError::Permanent(anyhow!("the store has no local paths")))?;
    std::fs::rename(body, &fin)?;
    pieces::clear(&mut tx, task_id).await?;
    tx.commit().await?;
    let (header, f2) = (plan.header.clone(), fin.clone());
    let made = tokio::task::spawn_blocking(move || assemble::put_in_front(&f2, &header, body_len))
        .await
        .map_err(|e| JobError::Retry(anyhow!("the assembly thread: {e}")))
        .and_then(|r| r.map_err(JobError::from));
    if let Err(e) = made {
        std::fs::remove_file(&fin).ok();
        return Err(e);
    }
    progress.tick(body_len);
    let mut summary = plan.summary;
    summary.output = fin.clone();
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(Some((summary, fin)))
}
