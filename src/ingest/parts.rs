//! The object-store path of [`super::receive`]: each chunk becomes its own part object, committed as
//! a row in `upload_parts`; finishing assembles the parts.

use super::checksum::{Checksum, Hashes, RunningMd5};
use super::error::Result;
use super::receive::{check, kept, moved, nothing, pump, Received, Target};
use super::Ingest;
use crate::db::uploads::{self, Part, Upload};
use crate::store::keys;
use bytes::Bytes;
use futures::Stream;

struct PartTarget {
    writer: opendal::Writer,
    hashes: Hashes,
    /// The upload's running MD5 (uploads going into an S3 multipart upload, `super::multipart`).
    running: Option<RunningMd5>,
}

impl Target for PartTarget {
    async fn put(&mut self, data: Bytes) -> Result<()> {
        self.hashes.update(&data);
        if let Some(r) = &mut self.running {
            r.update(&data);
        }
        Ok(self.writer.write(data).await?)
    }
}

pub(super) async fn receive<S, E>(
    ing: &Ingest,
    upload: &Upload,
    offset: i64,
    mut body: S,
    checksum: Option<Checksum>,
) -> Result<Received>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let key = keys::upload_part(upload.id, offset);
    let mut target = PartTarget {
        writer: ing.store.writer(&key).await?,
        hashes: Hashes::new(checksum.as_ref().map(|c| c.algo)),
        running: super::multipart::running(ing, upload, offset).await?,
    };
    let idle = ing.body_idle;
    let mut p = pump(&mut body, &mut target, upload.length - offset, idle, upload, offset).await;
    let failure = p
        .failure
        .take()
        .or_else(|| check(checksum.as_ref(), p.interrupted, |c| target.hashes.digest(c.algo)));
    if let Some(e) = failure {
        discard(ing, target.writer, &key).await;
        return Err(e);
    }
    if p.received == 0 {
        discard(ing, target.writer, &key).await;
        return nothing(&p, idle, offset);
    }
    target.writer.close().await?;

    let part = Part {
        offset,
        length: p.received,
        object_key: key.clone(),
        md5: target.hashes.md5_hex(),
    };
    let mut conn = ing.db.acquire().await?;
    let state = target.running.as_ref().map(|r| r.state());
    let expires = ing.upload.expiry_from_now();
    match uploads::commit_part(&mut conn, upload.id, offset, &part, state.as_deref(), expires).await? {
        Some(new_offset) => {
            drop(conn);
            if state.is_some() {
                super::multipart::after_commit(ing, upload);
            }
            kept(&p, idle, new_offset)
        }
        None => {
            ing.store.delete(&key).await.ok();
            Err(moved())
        }
    }
}

async fn discard(ing: &Ingest, mut writer: opendal::Writer, key: &str) {
    if let Err(e) = writer.abort().await {
        tracing::debug!("abort of part writer: {e}");
    }
    // Some backends keep what was written before abort; the key is ours alone, so delete it.
    if let Err(e) = ing.store.delete(key).await {
        tracing::warn!(key, "could not delete discarded part: {e}");
    }
}
