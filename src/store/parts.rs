//! A stored file made of several objects read back to back (contract). A recording is one object
//! when the store has made it so; on object stores it is first served from the objects the stop
//! left (the index, then every prepared piece), which hold the very bytes the store will later put
//! into one object (`jobs::compose`). Readers see one file either way: a length and ranges.

use super::Store;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// One object of a file made of several, and how many of its bytes (from its start) belong to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    pub key: String,
    pub len: u64,
}

/// The file's length.
pub fn total(parts: &[Extent]) -> u64 {
    parts.iter().map(|p| p.len).sum()
}

/// Which bytes of which part a file range covers, in order: (part index, range within the part).
pub fn locate(parts: &[Extent], range: Range<u64>) -> Vec<(usize, Range<u64>)> {
    let mut out = Vec::new();
    if range.is_empty() {
        return out;
    }
    let mut at = 0u64;
    for (i, p) in parts.iter().enumerate() {
        let (start, end) = (at, at + p.len);
        at = end;
        if end <= range.start || p.len == 0 {
            continue;
        }
        if start >= range.end {
            break;
        }
        out.push((i, range.start.max(start) - start..range.end.min(end) - start));
    }
    out
}

/// Chunks of a file made of parts, read part by part from `pos` to `end`.
struct PartsRead {
    store: Store,
    parts: Vec<Extent>,
    /// The one object holding the same bytes, once composed (see [`Store::read_parts`]).
    fallback: Option<String>,
    on_fallback: bool,
    pos: u64,
    end: u64,
    current: Option<(BoxStream<'static, std::io::Result<Bytes>>, u64)>,
}

impl PartsRead {
    /// The next chunk; None at the end.
    async fn next(&mut self) -> Option<std::io::Result<Bytes>> {
        loop {
            if self.pos >= self.end {
                return None;
            }
            if self.current.is_none() {
                match self.open().await {
                    Ok(s) => self.current = Some(s),
                    Err(e) => match self.fall_back() {
                        true => continue,
                        false => return Some(Err(e)),
                    },
                }
            }
            let (stream, until) = self.current.as_mut().expect("opened above");
            let (chunk, until) = (stream.next().await, *until);
            match chunk {
                Some(Ok(b)) => {
                    self.pos += b.len() as u64;
                    return Some(Ok(b));
                }
                Some(Err(e)) if !self.fall_back() => return Some(Err(e)),
                Some(Err(_)) => {}
                None if self.pos < until => {
                    return Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "a stored part is shorter than it was",
                    )))
                }
                None => self.current = None,
            }
        }
    }

    /// A stream from `pos` to the end of its part (or of the range, on the fallback object).
    async fn open(&mut self) -> std::io::Result<(BoxStream<'static, std::io::Result<Bytes>>, u64)> {
        let (key, range, until) = match (&self.fallback, self.on_fallback) {
            (Some(key), true) => (key.clone(), self.pos..self.end, self.end),
            _ => {
                let (i, r) = locate(&self.parts, self.pos..self.end)
                    .into_iter()
                    .next()
                    .ok_or(std::io::ErrorKind::UnexpectedEof)?;
                let until = self.pos + (r.end - r.start);
                (self.parts[i].key.clone(), r, until)
            }
        };
        let s = self
            .store
            .read_stream(&key, range)
            .await
            .map_err(std::io::Error::other)?;
        Ok((s.boxed(), until))
    }

    /// After a failed part: go on from the one object, if there is one to go on from.
    fn fall_back(&mut self) -> bool {
        if self.on_fallback || self.fallback.is_none() {
            return false;
        }
        self.on_fallback = true;
        self.current = None;
        true
    }
}

impl Store {
    /// The bytes in `range` of the file made of `parts`, as one stream; each part is opened when
    /// the stream reaches it. `fallback`: the object the parts are being composed into. Parts are
    /// deleted once it holds their bytes, so a read that loses a part (a download running while
    /// the composition finished) goes on from the same offset in it.
    pub fn read_parts(
        &self,
        parts: &[Extent],
        fallback: Option<&str>,
        range: Range<u64>,
    ) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        let read = PartsRead {
            store: self.clone(),
            parts: parts.to_vec(),
            fallback: fallback.map(str::to_owned),
            on_fallback: false,
            pos: range.start,
            end: range.end.min(total(parts)),
            current: None,
        };
        futures::stream::unfold(read, |mut r| async move { r.next().await.map(|c| (c, r)) })
    }

    /// The recording `key` as parts: the one object (None when there is none), or `parts` when
    /// the recording is still served from several.
    pub async fn recording_parts(&self, key: &str, parts: Option<Vec<Extent>>) -> opendal::Result<Option<Vec<Extent>>> {
        if let Some(parts) = parts {
            return Ok(Some(parts));
        }
        Ok(self.size(key).await?.map(|len| {
            vec![Extent {
                key: key.to_owned(),
                len,
            }]
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(lens: &[u64]) -> Vec<Extent> {
        lens.iter()
            .enumerate()
            .map(|(i, &len)| Extent {
                key: format!("p{i}"),
                len,
            })
            .collect()
    }

    #[test]
    fn ranges_map_to_the_parts_holding_them() {
        let p = parts(&[10, 0, 5, 20]);
        assert_eq!(total(&p), 35);
        assert_eq!(locate(&p, 0..35), vec![(0, 0..10), (2, 0..5), (3, 0..20)]);
        assert_eq!(locate(&p, 9..11), vec![(0, 9..10), (2, 0..1)]);
        assert_eq!(locate(&p, 10..15), vec![(2, 0..5)]);
        assert_eq!(locate(&p, 16..17), vec![(3, 1..2)]);
        assert_eq!(locate(&p, 35..35), vec![]);
        assert_eq!(locate(&p, 3..3), vec![]);
    }
}
