//! The upload journal: one small JSON file per slice not yet confirmed by the server, written
//! atomically (temp file, fsync, rename). After a crash or reboot the recorder reads it back and
//! resumes every upload where the server says it stands; an entry goes only once the server has
//! confirmed the slice's MD5.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub task_id: String,
    pub index: i32,
    pub path: PathBuf,
    pub size: u64,
    /// lowercase hex MD5 of the whole slice
    pub md5: String,
    /// the tus upload URL, once created
    pub upload_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    pub fn open(dir: &Path) -> std::io::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        Ok(Journal { dir: dir.to_owned() })
    }

    fn file(&self, task_id: &str, index: i32) -> PathBuf {
        self.dir.join(format!("{task_id}.{index:06}.json"))
    }

    pub fn get(&self, task_id: &str, index: i32) -> Option<Entry> {
        serde_json::from_slice(&std::fs::read(self.file(task_id, index)).ok()?).ok()
    }

    pub fn put(&self, e: &Entry) -> std::io::Result<()> {
        if !crate::api::is_safe_task_id(&e.task_id) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("refusing TaskId {:?} in a file name", e.task_id),
            ));
        }
        crate::durable::write_atomic(
            &self.file(&e.task_id, e.index),
            &serde_json::to_vec(e).expect("serialisable"),
        )
    }

    pub fn remove(&self, task_id: &str, index: i32) -> std::io::Result<()> {
        match std::fs::remove_file(self.file(task_id, index)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every unfinished upload, in (task, index) order.
    pub fn pending(&self) -> std::io::Result<Vec<Entry>> {
        let mut out: Vec<Entry> = std::fs::read_dir(&self.dir)?
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
            .collect();
        out.sort_by(|a: &Entry, b| (&a.task_id, a.index).cmp(&(&b.task_id, b.index)));
        Ok(out)
    }
}
