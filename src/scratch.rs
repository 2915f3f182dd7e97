//! Per-instance scratch space: `<data_dir>/tmp/<instance>/`, locked for as long as its instance
//! lives (an exclusive lock on `.lock` inside it). Several instances may share a data dir: each
//! cleans only the scratch dirs whose lock it can take, i.e. whose instance is gone, never a live
//! neighbour's running splice.

use anyhow::Context;
use std::fs::File;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
    _lock: File,
}

impl Scratch {
    /// Creates this instance's dir, then removes what dead instances (or older versions) left.
    pub fn create(data_dir: &Path) -> anyhow::Result<Scratch> {
        let root = data_dir.join("tmp");
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let dir = root.join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let lock = File::create(dir.join(".lock"))?;
        lock.lock().context("locking the scratch dir")?;
        let removed = clean_dead(&root, &dir);
        if removed > 0 {
            tracing::info!(removed, "removed scratch space left by instances that are gone");
        }
        Ok(Scratch { dir, _lock: lock })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes every entry of `root` but `keep` whose lock is free (or that has none).
fn clean_dead(root: &Path, keep: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else { return 0 };
    let mut removed = 0;
    for e in entries.flatten() {
        let path = e.path();
        if path == keep {
            continue;
        }
        let alive = File::open(path.join(".lock")).is_ok_and(|f| f.try_lock().is_err());
        if alive {
            continue;
        }
        let gone = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if gone.is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_instance_keeps_its_scratch_and_a_dead_ones_is_removed() {
        let data = tempfile::tempdir().unwrap();
        let a = Scratch::create(data.path()).unwrap();
        std::fs::write(a.dir().join("out.mp4"), b"splicing").unwrap();
        // What a killed instance leaves: a dir whose lock nobody holds, and a pre-scratch leftover.
        let dead = data.path().join("tmp/deadbeef");
        std::fs::create_dir_all(&dead).unwrap();
        std::fs::write(dead.join(".lock"), b"").unwrap();
        std::fs::create_dir_all(data.path().join("tmp/splice-old")).unwrap();

        let b = Scratch::create(data.path()).unwrap();
        assert!(a.dir().join("out.mp4").exists(), "a live neighbour's work is kept");
        assert!(!dead.exists() && !data.path().join("tmp/splice-old").exists());
        let a_dir = a.dir().to_owned();
        drop(a);
        assert!(!a_dir.exists(), "an instance removes its own scratch on exit");
        assert!(b.dir().exists());
    }
}
