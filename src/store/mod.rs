//! The storage contract: every byte the server keeps (upload parts, slices, recordings) goes through
//! [`Store`], a thin layer over one OpenDAL [`Operator`] chosen by config. Callers never learn which
//! backend is behind it (fs, S3, Alibaba OSS, Tencent COS).
//!
//! Guarantees callers rely on:
//! - writes stream: a [`Writer`] sends S3/OSS/COS multipart parts of `part_size` bytes one at a time
//!   (parallel slices already keep the link busy), so memory per open stream is bounded by about
//!   three parts, whatever the object size;
//! - an object is visible only after [`Writer::close`] succeeds; an aborted or crashed writer leaves no
//!   object at that key (multipart uploads are aborted or expire on the backend; on fs the bytes
//!   go to a file under [`keys::PARTIAL_DIR`], fsynced, then renamed into place, and the sweep
//!   removes what a crash left there);
//! - keys are plain `/`-separated relative paths made by this crate, never taken from user input.
//! - one exception on fs: an upload's append file ([`append`]) is visible while it grows; its valid
//!   prefix is the upload's committed offset in Postgres, and only the lock holder writes it.

use crate::config::{StoreBackend, StoreSettings};
use anyhow::Context;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use opendal::layers::RetryLayer;
use opendal::{services, ErrorKind, Operator, Writer};
use secrecy::ExposeSecret;
use std::path::Path;

pub mod append;
pub mod compose;
pub mod keys;
pub mod multipart;
pub mod parts;
pub mod ranged;

use multipart::Multipart;
use std::sync::Arc;

#[derive(Clone)]
pub struct Store {
    op: Operator,
    backend: StoreBackend,
    part_size: usize,
    /// The fs backend's directory: lets FFmpeg read slices in place instead of from a copy.
    fs_root: Option<std::path::PathBuf>,
    /// S3 only: multipart requests OpenDAL does not make (see [`multipart`]).
    multipart: Option<Arc<Multipart>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({:?})", self.backend)
    }
}

fn need<'a>(v: &'a Option<String>, what: &str) -> anyhow::Result<&'a str> {
    v.as_deref()
        .with_context(|| format!("store.{what} is required for this store backend"))
}

impl Store {
    pub fn from_settings(s: &StoreSettings, data_dir: &Path) -> anyhow::Result<Store> {
        let secret = || {
            s.secret_access_key
                .as_ref()
                .map(|k| k.expose_secret().to_owned())
                .context("store.secret_access_key is required for this store backend")
        };
        let prefix = s.root.clone().unwrap_or_else(|| "/".into());
        let mut fs_root = None;
        let op = match s.backend {
            StoreBackend::Fs => {
                let root = match &s.root {
                    Some(r) => r.into(),
                    None => data_dir.join("objects"),
                };
                std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
                let root = std::fs::canonicalize(&root)?;
                fs_root = Some(root.clone());
                // Inside the root, so the rename never crosses filesystems.
                let partial = root.join(keys::PARTIAL_DIR);
                std::fs::create_dir_all(&partial)?;
                Operator::new(
                    services::Fs::default()
                        .root(&root.to_string_lossy())
                        .atomic_write_dir(&partial.to_string_lossy()),
                )?
                .finish()
            }
            StoreBackend::S3 => {
                let mut b = services::S3::default()
                    .root(&prefix)
                    .bucket(need(&s.bucket, "bucket")?)
                    .region(s.region.as_deref().unwrap_or("us-east-1"))
                    .access_key_id(need(&s.access_key_id, "access_key_id")?)
                    .secret_access_key(&secret()?)
                    .disable_config_load()
                    .disable_ec2_metadata();
                if let Some(e) = &s.endpoint {
                    b = b.endpoint(e);
                }
                if s.virtual_host_style {
                    b = b.enable_virtual_host_style();
                }
                Operator::new(b)?.finish()
            }
            StoreBackend::Oss => Operator::new(
                services::Oss::default()
                    .root(&prefix)
                    .bucket(need(&s.bucket, "bucket")?)
                    .endpoint(need(&s.endpoint, "endpoint")?)
                    .access_key_id(need(&s.access_key_id, "access_key_id")?)
                    .access_key_secret(&secret()?),
            )?
            .finish(),
            StoreBackend::Cos => Operator::new(
                services::Cos::default()
                    .root(&prefix)
                    .bucket(need(&s.bucket, "bucket")?)
                    .endpoint(need(&s.endpoint, "endpoint")?)
                    .secret_id(need(&s.access_key_id, "access_key_id")?)
                    .secret_key(&secret()?)
                    .disable_config_load(),
            )?
            .finish(),
        };
        Ok(Store {
            op: op.layer(RetryLayer::new().with_jitter()),
            backend: s.backend,
            part_size: s.part_size,
            fs_root,
            multipart: Multipart::from_settings(s)?.map(Arc::new),
        })
    }

    pub fn backend(&self) -> StoreBackend {
        self.backend
    }

    /// Server-side assembly of objects from ranges of others, and multipart uploads any instance
    /// can continue; None where the backend is not spoken (fs, OSS, COS).
    pub fn multipart(&self) -> Option<&Multipart> {
        self.multipart.as_deref()
    }

    /// Fails when the store cannot be written (missing bucket, bad credentials), so `serve` stops early.
    pub async fn check(&self) -> anyhow::Result<()> {
        let key = format!("{}/{}", keys::PROBE_DIR, uuid::Uuid::new_v4());
        self.op
            .write(&key, Bytes::from_static(b"ok"))
            .await
            .context("store is not writable")?;
        self.op.delete(&key).await.context("store does not allow delete")?;
        Ok(())
    }

    /// A streaming writer; the object appears at `key` only when it is closed.
    pub async fn writer(&self, key: &str) -> opendal::Result<Writer> {
        match self.backend {
            StoreBackend::Fs => self.op.writer(key).await,
            _ => self.op.writer_with(key).chunk(self.part_size).concurrent(1).await,
        }
    }

    /// Stores `bytes` (a small object, held in memory) at `key`.
    pub async fn put(&self, key: &str, bytes: Bytes) -> opendal::Result<()> {
        let mut w = self.writer(key).await?;
        if let Err(e) = w.write(bytes).await {
            w.abort().await.ok();
            return Err(e);
        }
        w.close().await.map(|_| ())
    }

    /// The bytes of `key` in `range`, as a stream of bounded chunks.
    pub async fn read_stream(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> opendal::Result<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static> {
        let reader = self.op.reader_with(key).chunk(self.part_size).await?;
        reader.into_bytes_stream(range).await
    }

    /// Appends the bytes of `key` in `range` to `buf`; an error if fewer arrive.
    pub async fn read_into(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
        buf: &mut bytes::BytesMut,
    ) -> anyhow::Result<()> {
        let want = (range.end - range.start) as usize;
        let start = buf.len();
        let mut s = self.read_stream(key, range).await?;
        while let Some(chunk) = s.try_next().await? {
            buf.extend_from_slice(&chunk);
        }
        if buf.len() - start != want {
            anyhow::bail!("{key}: read {} bytes of {want}", buf.len() - start);
        }
        Ok(())
    }

    /// Size of the object, or None if there is none.
    pub async fn size(&self, key: &str) -> opendal::Result<Option<u64>> {
        match self.op.stat(key).await {
            Ok(m) => Ok(Some(m.content_length())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes one object; a missing object is not an error.
    pub async fn delete(&self, key: &str) -> opendal::Result<()> {
        self.op.delete(key).await
    }

    /// Deletes every object under `prefix` (which must end with `/`).
    pub async fn delete_prefix(&self, prefix: &str) -> opendal::Result<()> {
        debug_assert!(prefix.ends_with('/'));
        match self.op.remove_all(prefix).await {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    /// Moves `from` to `to`: a rename where the backend has one, a server-side copy where it has one,
    /// a streamed copy otherwise.
    pub async fn rename(&self, from: &str, to: &str) -> opendal::Result<()> {
        let cap = self.op.info().full_capability();
        if cap.rename {
            return self.op.rename(from, to).await;
        }
        if cap.copy {
            self.op.copy(from, to).await?;
        } else {
            let size = self.op.stat(from).await?.content_length();
            let mut w = self.writer(to).await?;
            let mut s = self.read_stream(from, 0..size).await?;
            while let Some(chunk) = s
                .try_next()
                .await
                .map_err(|e| opendal::Error::new(ErrorKind::Unexpected, "reading during copy").set_source(e))?
            {
                w.write(chunk).await?;
            }
            w.close().await?;
        }
        self.op.delete(from).await
    }

    /// The immediate sub-"directories" of `prefix` (keys ending in `/`).
    pub async fn list_dirs(&self, prefix: &str) -> opendal::Result<Vec<String>> {
        let entries = match self.op.list(prefix).await {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(entries
            .into_iter()
            .filter(|e| e.metadata().is_dir() && e.path() != prefix)
            .map(|e| e.path().to_owned())
            .collect())
    }

    /// fs only: where an upload's append file lives (see [`append`]); None on object stores, whose
    /// uploads keep one object per chunk.
    pub fn append_path(&self, upload: uuid::Uuid) -> Option<std::path::PathBuf> {
        self.local_path(&keys::upload_append(upload))
    }

    /// The object's file, when the backend is the local filesystem.
    pub fn local_path(&self, key: &str) -> Option<std::path::PathBuf> {
        self.fs_root.as_ref().map(|r| r.join(key))
    }

    /// Copies an object to a local file, streaming; `tick` hears of every chunk's bytes.
    pub async fn download(&self, key: &str, to: &Path, tick: &(dyn Fn(u64) + Sync)) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        let size = self.op.stat(key).await?.content_length();
        let mut s = self.read_stream(key, 0..size).await?;
        let mut f = tokio::fs::File::create(to).await?;
        while let Some(chunk) = s.try_next().await? {
            tick(chunk.len() as u64);
            f.write_all(&chunk).await?;
        }
        f.flush().await?;
        Ok(())
    }

    /// Stores a local file at `key`, taking it: on the fs store a file already on the same
    /// filesystem is fsynced and renamed into place (a spliced MP4 is as large as the class, and
    /// copying it was most of the time from stop to callback); otherwise it is streamed like
    /// [`Store::upload_file`]. Readers never see half an object either way.
    pub async fn put_file(&self, from: &Path, key: &str, tick: &(dyn Fn(u64) + Sync)) -> anyhow::Result<u64> {
        if let Some(to) = self.local_path(key) {
            let (from, to2) = (from.to_owned(), to.clone());
            let moved = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
                let len = std::fs::File::open(&from).and_then(|f| {
                    f.sync_all()?;
                    f.metadata().map(|m| m.len())
                })?;
                if let Some(dir) = to2.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::rename(&from, &to2)?;
                if let Some(dir) = to2.parent() {
                    std::fs::File::open(dir)?.sync_all()?;
                }
                Ok(len)
            })
            .await?;
            match moved {
                Ok(len) => {
                    tick(len);
                    return Ok(len);
                }
                // Another filesystem (EXDEV) or a rename refused: copy instead.
                Err(e) => tracing::debug!(error = %e, "renaming into the store failed; copying"),
            }
        }
        self.upload_file(from, key, tick).await
    }

    /// Stores a local file at `key`, streaming in bounded chunks; `tick` hears of every chunk's bytes.
    pub async fn upload_file(&self, from: &Path, key: &str, tick: &(dyn Fn(u64) + Sync)) -> anyhow::Result<u64> {
        use tokio::io::AsyncReadExt;
        let mut f = tokio::fs::File::open(from).await?;
        let mut w = self.writer(key).await?;
        let mut total = 0u64;
        loop {
            let mut buf = vec![0u8; 1 << 20];
            let n = f.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            total += n as u64;
            tick(n as u64);
            if let Err(e) = w.write(buf).await {
                w.abort().await.ok();
                return Err(e.into());
            }
        }
        w.close().await?;
        Ok(total)
    }

    /// Every key under `prefix`, for sweeps and tests.
    pub async fn list(&self, prefix: &str) -> opendal::Result<Vec<String>> {
        Ok(self.list_aged(prefix).await?.into_iter().map(|(k, _)| k).collect())
    }

    /// Every key under `prefix` with its last-modified time (None where the backend gives none).
    pub async fn list_aged(
        &self,
        prefix: &str,
    ) -> opendal::Result<Vec<(String, Option<chrono::DateTime<chrono::Utc>>)>> {
        let mut lister = match self.op.lister_with(prefix).recursive(true).await {
            Ok(l) => l,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        while let Some(entry) = lister.next().await {
            let entry = entry?;
            if entry.metadata().is_file() {
                let modified = match entry.metadata().last_modified() {
                    Some(t) => Some(t),
                    None => self.op.stat(entry.path()).await.ok().and_then(|m| m.last_modified()),
                };
                out.push((entry.path().to_owned(), modified));
            }
        }
        Ok(out)
    }

    /// Files a crashed fs write left in the partial dir, older than `age` (fs only).
    pub fn stale_partials(&self, age: std::time::Duration) -> Vec<std::path::PathBuf> {
        let Some(root) = &self.fs_root else { return Vec::new() };
        let Ok(entries) = std::fs::read_dir(root.join(keys::PARTIAL_DIR)) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| {
                e.metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|a| a >= age))
            })
            .map(|e| e.path())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn settings(backend: StoreBackend) -> StoreSettings {
        let mut s = Settings::default().store;
        s.backend = backend;
        s.bucket = Some("recordings-1250000000".into());
        s.endpoint = Some("https://example.invalid".into());
        s.access_key_id = Some("id".into());
        s.secret_access_key = Some("secret".into());
        s
    }

    #[test]
    fn every_backend_builds_from_config() {
        let dir = tempfile::tempdir().unwrap();
        for b in [StoreBackend::Fs, StoreBackend::S3, StoreBackend::Oss, StoreBackend::Cos] {
            let store = Store::from_settings(&settings(b), dir.path()).unwrap();
            assert_eq!(store.backend(), b);
        }
    }

    #[test]
    fn missing_settings_are_named() {
        let dir = tempfile::tempdir().unwrap();
        for (b, field) in [
            (StoreBackend::S3, "bucket"),
            (StoreBackend::Oss, "endpoint"),
            (StoreBackend::Cos, "secret_access_key"),
        ] {
            let mut s = settings(b);
            match field {
                "bucket" => s.bucket = None,
                "endpoint" => s.endpoint = None,
                _ => s.secret_access_key = None,
            }
            let err = Store::from_settings(&s, dir.path()).unwrap_err().to_string();
            assert!(err.contains(&format!("store.{field}")), "{b:?}: {err}");
        }
    }
}
