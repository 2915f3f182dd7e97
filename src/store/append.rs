//! fs only: the file an upload's chunks are appended to, one per upload (`keys::upload_append`).
//!
//! Its contract differs from an object's: the file is visible while it grows, and its valid prefix is
//! the upload's committed offset in Postgres, not its length. Whoever writes holds an exclusive
//! `flock` on it (released by the kernel when the descriptor closes, so also when a process dies),
//! cuts the file back to the committed offset first (dropping what a crashed or refused PATCH left
//! past it), and writes at explicit positions. Two instances sharing the fs store (one host, or a
//! filesystem with working `flock`) therefore never write one upload at once.
//!
//! Durability: the file is `fdatasync`ed every 64 MiB and at the upload's last byte (before the slice
//! is recorded), not at every PATCH. A process crash loses nothing committed (the bytes are in the
//! page cache); after an OS crash, the bytes committed past the last sync in another boot (see
//! [`boot_id`]) are given back: the offset returns to the synced one and the client re-sends them.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// This boot of this host: `/proc/sys/kernel/random/boot_id`, or a value unique to this process
/// where there is none (then every process start counts as a new boot, which is only cautious).
pub fn boot_id() -> &'static str {
    static BOOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("process-{}", uuid::Uuid::new_v4()))
    })
}

/// An upload's append file, locked for writing by this holder until dropped.
#[derive(Clone)]
pub struct AppendFile {
    file: Arc<File>,
}

/// What [`AppendFile::open_locked`] found.
pub enum Opened {
    Locked(AppendFile),
    /// Another request holds the file for longer than we waited.
    Busy,
    /// No file (and `create` was false).
    Missing,
}

impl AppendFile {
    /// Opens (with `create`, creates, mode 0600) and locks the file, waiting up to `wait` for a
    /// writer that holds it to finish.
    pub async fn open_locked(path: &Path, create: bool, wait: Duration) -> io::Result<Opened> {
        if create {
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
        }
        let mut o = OpenOptions::new();
        o.read(true).write(true).create(create).mode(0o600);
        let file = match o.open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Opened::Missing),
            Err(e) => return Err(e),
        };
        let start = Instant::now();
        loop {
            // SAFETY: flock on a descriptor this function owns; no memory is involved.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if r == 0 {
                return Ok(Opened::Locked(AppendFile { file: Arc::new(file) }));
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) && e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
            if start.elapsed() >= wait {
                return Ok(Opened::Busy);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Cuts the file to `len` bytes. Fails if it holds fewer (committed bytes would be missing).
    pub fn truncate(&self, len: u64) -> io::Result<()> {
        let have = self.file.metadata()?.len();
        if have < len {
            return Err(io::Error::other(format!(
                "append file holds {have} bytes, fewer than the {len} committed"
            )));
        }
        if have > len {
            self.file.set_len(len)?;
        }
        Ok(())
    }

    /// Writes all of `data` at `pos` (blocking; call from a blocking thread).
    pub fn write_at(&self, data: &[u8], pos: u64) -> io::Result<()> {
        self.file.write_all_at(data, pos)
    }

    /// Makes the written bytes durable (blocking).
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}
