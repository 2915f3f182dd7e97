//! The whole splice on every core: each slice is prepared (`piece`: the packet loop, its media
//! written once) straight into its own region of the output file, by as many threads as there are
//! cores, and the index is then written into the room kept in front. The regions come from a walk
//! over the slices' tag headers (`flvscan`): each is at least as long as the slice's media, so the
//! pieces are independent of one another, and what a piece leaves unused (dropped or cut packets)
//! is a hole inside the `mdat` that no sample points at. The result is the MP4 the one-thread
//! splice makes (same packets, times and frames; `tests/api/pieces.rs` holds the assembly to that),
//! reached in about the time of reading the slices once over the cores.
//!
//! It covers what the prepared fast path covers (H.264 with AAC or no audio, one set of video
//! parameters); for anything else [`splice`] answers None and the caller splices one slice after
//! the other.

use super::assemble::{plan, Prepared, Room};
use super::flvscan::{count, moov_room, Counts};
use super::piece::{self, Piece, MAX_ENTRIES};
use super::Summary;
use crate::progress::Progress;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Regions of the output: the room for the header, then each slice's, back to back.
struct Layout {
    room: u64,
    starts: Vec<u64>,
    sizes: Vec<u64>,
    body_len: u64,
}

impl Layout {
    fn of(inputs: &[PathBuf]) -> Layout {
        let counts: Vec<Counts> = inputs.iter().map(|p| count(p)).collect();
        let total = counts.iter().fold(Counts::default(), |a, c| a + *c);
        let sizes: Vec<u64> = counts.iter().map(|c| c.bytes).collect();
        let starts = sizes
            .iter()
            .scan(0, |at, n| {
                let s = *at;
                *at += n;
                Some(s)
            })
            .collect();
        Layout {
            room: moov_room(total).next_multiple_of(4096),
            starts,
            sizes,
            body_len: total.bytes,
        }
    }
}

/// Splices `inputs` into `output` on `threads` threads; `known[i]`: kept keyframe verdicts for
/// `inputs[i]`. Ok(None): these slices need the one-thread splice (the output is then left as it
/// is, for the caller to overwrite).
pub fn splice(
    inputs: &[PathBuf],
    known: &[Option<Vec<u32>>],
    output: &Path,
    threads: usize,
    progress: &Progress,
) -> anyhow::Result<Option<Summary>> {
    let started = std::time::Instant::now();
    let layout = Layout::of(inputs);
    let file = File::create(output)?;
    file.set_len(layout.room + layout.body_len)?;
    let pieces = prepare_all(inputs, known, output, &layout, threads, progress)?;
    let Some(mut pieces) = pieces else { return Ok(None) };
    let tables: Vec<_> = pieces.iter_mut().map(|p| std::mem::take(&mut p.entries)).collect();
    let prepared: Vec<Prepared> = pieces
        .iter()
        .zip(tables)
        .zip(inputs)
        .zip(&layout.starts)
        .map(|(((p, entries), path), start)| Prepared {
            path: path.clone(),
            meta: &p.meta,
            entries: entries.into(),
            body_offset: *start,
        })
        .collect();
    let plan = match plan(prepared, layout.body_len, Room::Exact(layout.room)) {
        Ok(plan) => plan,
        Err(why) => {
            tracing::debug!("splicing one slice after the other: {why}");
            return Ok(None);
        }
    };
    file.write_all_at(&plan.header, 0)?;
    if let Some((at, mdat)) = plan.mdat_header_at {
        file.write_all_at(&mdat, at)?;
    }
    file.sync_all()?;
    let mut summary = plan.summary;
    for (rep, p) in summary.slices.iter_mut().zip(&pieces) {
        rep.bad_keyframes = p.meta.bad_keyframes.clone();
    }
    summary.output = output.to_owned();
    summary.size = layout.room + layout.body_len;
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    summary.parallel = true;
    Ok(Some(summary))
}

/// Every slice prepared into its region, slices taken in order by `threads` threads. None: a
/// piece the assembly could not take (oversized, or outgrew its region).
fn prepare_all(
    inputs: &[PathBuf],
    known: &[Option<Vec<u32>>],
    output: &Path,
    layout: &Layout,
    threads: usize,
    progress: &Progress,
) -> anyhow::Result<Option<Vec<Piece>>> {
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Option<anyhow::Result<Piece>>>> = Mutex::new((0..inputs.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, inputs.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= inputs.len() || progress.cancelled() {
                    return;
                }
                let opts = piece::Options {
                    max_entries: MAX_ENTRIES,
                    known: known.get(i).and_then(|k| k.as_deref()),
                    room: Some(layout.sizes[i]),
                    sync: false,
                };
                let made = File::options()
                    .write(true)
                    .open(output)
                    .map_err(anyhow::Error::from)
                    .and_then(|mut f| {
                        f.seek(SeekFrom::Start(layout.room + layout.starts[i]))?;
                        let p = piece::prepare(&inputs[i], &mut f, opts, progress)?;
                        f.flush()?;
                        Ok(p)
                    });
                done.lock().expect("no thread panics holding it")[i] = Some(made);
            });
        }
    });
    if progress.cancelled() {
        anyhow::bail!("cancelled");
    }
    let mut pieces = Vec::with_capacity(inputs.len());
    for made in done.into_inner().expect("threads joined") {
        match made {
            Some(Ok(p)) if !p.meta.oversized => pieces.push(p),
            Some(Err(e)) if e.is::<piece::Outgrew>() => return Ok(None),
            Some(Err(e)) => return Err(e),
            _ => return Ok(None),
        }
    }
    Ok(Some(pieces))
}
