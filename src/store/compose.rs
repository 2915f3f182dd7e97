//! Making one object from a small head (bytes in memory) followed by other objects of the store,
//! with a multipart upload in which the backend copies the objects' bytes itself (UploadPartCopy):
//! the caller sends only the head and the bytes needed to bring parts up to the backend's minimum
//! part size, whatever the total length.
//!
//! Every part but the last must be at least [`MIN_PART`]: the head plus the start of the first
//! source make the first part; sources of at least that size (what remains of them) are copied as
//! parts of their own; runs of smaller ones are read and sent as one part. The object appears at
//! its key only when the upload completes; on failure the upload is aborted.

use super::multipart::{Multipart, Part, Upload, MAX_PART, MAX_PARTS, MIN_PART};
use super::Store;
use anyhow::bail;
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use std::ops::Range;

/// Parts sent at once (copies run on the backend; sent parts hold their bytes in memory).
const CONCURRENT_PARTS: usize = 4;

/// A stretch of a part sent from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// The whole head.
    Head,
    /// Bytes of source `i`.
    Range(usize, Range<u64>),
}

/// One part of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartPlan {
    /// Read here and sent.
    Send(Vec<Seg>),
    /// Copied by the backend from source `i`.
    Copy(usize, Range<u64>),
}

/// The parts for a head of `head` bytes followed by sources of the given lengths, each but the
/// last at least `min` bytes (and copies at most [`MAX_PART`]). Sent parts hold at most
/// `max(head, min)` bytes.
pub fn plan_parts(head: u64, sources: &[u64], min: u64) -> Vec<PartPlan> {
    let mut parts = Vec::new();
    let mut pending = Vec::new();
    let mut pending_len = 0;
    if head > 0 {
        pending.push(Seg::Head);
        pending_len = head;
    }
    for (i, &len) in sources.iter().enumerate() {
        let mut at = 0;
        if pending_len > 0 && pending_len < min {
            at = (min - pending_len).min(len);
            if at > 0 {
                pending.push(Seg::Range(i, 0..at));
                pending_len += at;
            }
        }
        if pending_len >= min {
            parts.push(PartPlan::Send(std::mem::take(&mut pending)));
            pending_len = 0;
        }
        let rest = len - at;
        if rest == 0 {
            continue;
        }
        if rest >= min {
            // Equal shares of at most MAX_PART (each >= min, as rest >= min).
            let n = rest.div_ceil(MAX_PART);
            let share = rest.div_ceil(n);
            let mut from = at;
            while from < len {
                let to = (from + share).min(len);
                parts.push(PartPlan::Copy(i, from..to));
                from = to;
            }
        } else {
            pending.push(Seg::Range(i, at..len));
            pending_len = rest;
        }
    }
    if !pending.is_empty() {
        parts.push(PartPlan::Send(pending));
    }
    parts
}

/// Stores at `key` the object `head` followed by the whole of each of `sources` (keys of this
/// store with their lengths), copying server-side where it can. `tick` hears of every part's
/// bytes. Returns the object's length.
pub async fn compose(
    store: &Store,
    mp: &Multipart,
    key: &str,
    head: Bytes,
    sources: &[(String, u64)],
    tick: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<u64> {
    let lens: Vec<u64> = sources.iter().map(|s| s.1).collect();
    let plan = plan_parts(head.len() as u64, &lens, MIN_PART);
    if plan.len() > MAX_PARTS as usize {
        bail!("{} parts are more than a multipart upload may have", plan.len());
    }
    let started = std::time::Instant::now();
    let copied: u64 = plan
        .iter()
        .map(|p| match p {
            PartPlan::Copy(_, r) => r.end - r.start,
            PartPlan::Send(_) => 0,
        })
        .sum();
    let count = plan.len();
    let up = mp.create(key).await?;
    let composing = Composing {
        store,
        mp,
        up: &up,
        head: &head,
        sources,
        tick,
    };
    let sent = futures::stream::iter(plan.into_iter().enumerate())
        .map(|(n, p)| composing.part(n as u32 + 1, p))
        .buffered(CONCURRENT_PARTS)
        .try_collect::<Vec<Part>>()
        .await;
    let parts_ms = started.elapsed().as_millis() as u64;
    let done = match sent {
        Ok(parts) => mp.complete(&up, &parts).await,
        Err(e) => Err(e),
    };
    // Where the time goes: the parts (copies run on the backend) and the completion (which some
    // backends, such as s3s-fs, make by copying every part's bytes once more).
    tracing::info!(
        key,
        parts = count,
        copied,
        sent = head.len() as u64 + lens.iter().sum::<u64>() - copied,
        parts_ms,
        complete_ms = started.elapsed().as_millis() as u64 - parts_ms,
        "object composed"
    );
    if let Err(e) = done {
        if let Err(a) = mp.abort(&up).await {
            tracing::warn!(error = %format!("{a:#}"), key, "aborting a failed multipart upload failed");
        }
        return Err(e);
    }
    Ok(head.len() as u64 + lens.iter().sum::<u64>())
}

/// What every part of one object's upload shares.
struct Composing<'a> {
    store: &'a Store,
    mp: &'a Multipart,
    up: &'a Upload,
    head: &'a Bytes,
    sources: &'a [(String, u64)],
    /// Hears of every part's bytes.
    tick: &'a (dyn Fn(u64) + Sync),
}

impl Composing<'_> {
    /// Part `number` (from 1), copied or sent as `plan` says.
    async fn part(&self, number: u32, plan: PartPlan) -> anyhow::Result<Part> {
        match plan {
            PartPlan::Copy(i, range) => {
                let len = range.end - range.start;
                let p = self.mp.copy_part(self.up, number, &self.sources[i].0, range).await?;
                (self.tick)(len);
                Ok(p)
            }
            PartPlan::Send(segs) => {
                let mut buf = BytesMut::new();
                for seg in segs {
                    match seg {
                        Seg::Head => buf.extend_from_slice(self.head),
                        Seg::Range(i, range) => self.store.read_into(&self.sources[i].0, range, &mut buf).await?,
                    }
                }
                let len = buf.len() as u64;
                let p = self.mp.put_part(self.up, number, buf.freeze()).await?;
                (self.tick)(len);
                Ok(p)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PartPlan::*;

    #[test]
    fn parts_are_copies_where_large_enough_and_sent_where_not() {
        // Head + 3 of the first source's bytes make part 1; the rest of it is copied; two small
        // sources are sent together, the last part may be small.
        let p = plan_parts(7, &[20, 4, 3, 0, 13, 2], 10);
        assert_eq!(
            p,
            vec![
                Send(vec![Seg::Head, Seg::Range(0, 0..3)]),
                Copy(0, 3..20),
                Send(vec![Seg::Range(1, 0..4), Seg::Range(2, 0..3), Seg::Range(4, 0..3)]),
                Copy(4, 3..13),
                Send(vec![Seg::Range(5, 0..2)]),
            ]
        );
        // A large head is a part of its own; nothing else at all is one small part.
        assert_eq!(plan_parts(15, &[10], 10), vec![Send(vec![Seg::Head]), Copy(0, 0..10)]);
        assert_eq!(plan_parts(3, &[0, 0], 10), vec![Send(vec![Seg::Head])]);
    }

    #[test]
    fn every_part_but_the_last_is_large_enough_and_all_bytes_are_covered() {
        let mut seed = 7u64;
        for _ in 0..500 {
            let mut next = || {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (seed >> 33) % 25
            };
            let head = next();
            let lens: Vec<u64> = (0..next() % 8).map(|_| next()).collect();
            let p = plan_parts(head, &lens, 10);
            let size = |x: &PartPlan| match x {
                Copy(_, r) => r.end - r.start,
                Send(s) => s
                    .iter()
                    .map(|g| match g {
                        Seg::Head => head,
                        Seg::Range(_, r) => r.end - r.start,
                    })
                    .sum(),
            };
            for x in p.iter().take(p.len().saturating_sub(1)) {
                assert!(size(x) >= 10, "{head} {lens:?}: {p:?}");
            }
            let total: u64 = p.iter().map(size).sum();
            assert_eq!(total, head + lens.iter().sum::<u64>(), "{head} {lens:?}: {p:?}");
        }
    }
}
