//! The task book: what the recorder knows about each recording that is not finished yet, one
//! `task.json` per task next to its slices (`{data}/tasks/{TaskId}/`), rewritten atomically at each
//! change. It is the seed's recovery queue: after a crash or reboot, [`Book::open`] closes the
//! recordings that were cut short (their last slice is kept up to its last written frame) so the
//! uploader can finish them like any other.

use crate::api::is_safe_task_id;
use crate::durable::write_atomic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceRecord {
    pub index: i32,
    pub duration_ms: i64,
    pub size: u64,
    /// The engine finished the file (or recovery found it usable).
    pub closed: bool,
    /// The server confirmed its MD5; the local file is gone.
    pub confirmed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub task_id: String,
    pub class_id: i64,
    pub sdk_app_id: u64,
    pub user_id: String,
    /// Kept so uploads can resume after a reboot before anyone calls Init again. The data
    /// directory is private to the user (0700).
    pub user_sig: String,
    /// false: EnableUpload was off, the slices stay local.
    pub upload: bool,
    pub started_at: i64,
    pub slices: Vec<SliceRecord>,
    /// Set once the recording ended: slices 0..count exist.
    pub slice_count: Option<i32>,
    /// The server accepted the stop with that count.
    pub server_stopped: bool,
    /// The server's last refusal of this task that asking again cannot change (409: already
    /// done or not possible; 404: gone), for GetState and the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The server will not take the task further (its stop or a slice was refused that way):
    /// the queue leaves it alone, and its files stay on disk.
    #[serde(default)]
    pub abandoned: bool,
}

impl TaskRecord {
    pub fn uploaded_ms(&self) -> i64 {
        self.slices.iter().filter(|s| s.confirmed).map(|s| s.duration_ms).sum()
    }

    pub fn recorded_ms(&self) -> i64 {
        self.slices.iter().map(|s| s.duration_ms).sum()
    }

    pub fn all_confirmed(&self) -> bool {
        self.slice_count.is_some() && self.slices.iter().all(|s| s.confirmed)
    }
}

pub struct Book {
    dir: PathBuf,
    tasks: Mutex<BTreeMap<String, TaskRecord>>,
}

impl Book {
    /// Loads every task under `{data}/tasks` and closes those a crash left open (reading
    /// encrypted slices with `key`).
    pub fn open(data_dir: &Path, key: Option<&localrecord_crypt::Key>) -> std::io::Result<Book> {
        let dir = data_dir.join("tasks");
        std::fs::create_dir_all(&dir)?;
        let mut tasks = BTreeMap::new();
        for e in std::fs::read_dir(&dir)?.flatten() {
            let file = e.path().join("task.json");
            let Ok(bytes) = std::fs::read(&file) else { continue };
            match serde_json::from_slice::<TaskRecord>(&bytes) {
                // A task.json naming another directory (or none that is safe) is not ours to act
                // on: removing "its" directory could reach outside the data dir.
                Ok(t) if !is_safe_task_id(&t.task_id) || e.file_name() != t.task_id.as_str() => {
                    tracing::warn!(
                        "skipping {}: its TaskId {:?} does not name this directory",
                        file.display(),
                        t.task_id
                    );
                }
                Ok(mut t) => {
                    if t.slice_count.is_none() {
                        recover(&e.path(), &mut t, key);
                        write_atomic(&file, &serde_json::to_vec_pretty(&t)?)?;
                    }
                    tasks.insert(t.task_id.clone(), t);
                }
                Err(err) => tracing::warn!("skipping unreadable {}: {err}", file.display()),
            }
        }
        Ok(Book {
            dir,
            tasks: Mutex::new(tasks),
        })
    }

    pub fn task_dir(&self, task_id: &str) -> PathBuf {
        self.dir.join(task_id)
    }

    pub fn insert(&self, t: TaskRecord) -> std::io::Result<()> {
        safe(&t.task_id)?;
        std::fs::create_dir_all(self.task_dir(&t.task_id))?;
        let mut tasks = self.tasks.lock().expect("book");
        self.persist(&t)?;
        tasks.insert(t.task_id.clone(), t);
        Ok(())
    }

    /// Applies `f` to the task and writes it down; None when the task is unknown.
    pub fn update<R>(&self, task_id: &str, f: impl FnOnce(&mut TaskRecord) -> R) -> std::io::Result<Option<R>> {
        let mut tasks = self.tasks.lock().expect("book");
        let Some(t) = tasks.get_mut(task_id) else {
            return Ok(None);
        };
        let r = f(t);
        // Written under the lock, so two updates can never reach the disk in the wrong order.
        self.persist(t)?;
        Ok(Some(r))
    }

    pub fn get(&self, task_id: &str) -> Option<TaskRecord> {
        self.tasks.lock().expect("book").get(task_id).cloned()
    }

    pub fn all(&self) -> Vec<TaskRecord> {
        self.tasks.lock().expect("book").values().cloned().collect()
    }

    /// Slice `index` of a recording is being written.
    pub fn slice_opened(&self, task_id: &str, index: i32) -> std::io::Result<Option<()>> {
        self.update(task_id, |t| {
            t.slices.push(SliceRecord {
                index,
                duration_ms: 0,
                size: 0,
                closed: false,
                confirmed: false,
            })
        })
    }

    /// Slice `index` of a recording is complete.
    pub fn slice_closed(&self, task_id: &str, index: i32, duration_ms: i64, size: u64) -> std::io::Result<Option<()>> {
        self.update(task_id, |t| {
            if let Some(s) = t.slices.iter_mut().find(|s| s.index == index) {
                (s.duration_ms, s.size, s.closed) = (duration_ms, size, true);
            }
        })
    }

    /// The recording ended after `count` slices: those closed are its slices.
    pub fn recording_ended(&self, task_id: &str, count: i32) -> std::io::Result<Option<()>> {
        self.update(task_id, |t| {
            t.slices.retain(|s| s.closed && s.index < count);
            t.slice_count = Some(t.slices.len() as i32);
        })
    }

    /// Forgets a finished task and deletes its directory (what is left in it: nothing, unless the
    /// slices were local-only).
    pub fn remove(&self, task_id: &str) -> std::io::Result<()> {
        safe(task_id)?;
        self.tasks.lock().expect("book").remove(task_id);
        match std::fs::remove_dir_all(self.task_dir(task_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn persist(&self, t: &TaskRecord) -> std::io::Result<()> {
        let path = self.task_dir(&t.task_id).join("task.json");
        write_atomic(&path, &serde_json::to_vec_pretty(t)?)
    }
}

/// TaskIds become directory names and are removed recursively: only safe ones (see `api`).
fn safe(task_id: &str) -> std::io::Result<()> {
    if is_safe_task_id(task_id) {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("refusing TaskId {task_id:?} as a directory name"),
        ))
    }
}

/// A recording cut short: keep every slice that holds at least one frame (measuring the one that
/// was being written), drop an empty last one, and end the recording there. An encrypted slice
/// cut by the crash is first resealed (its whole chunks made a complete file, see `sealed`);
/// without the key it is kept as it is, unmeasured.
fn recover(dir: &Path, t: &mut TaskRecord, key: Option<&localrecord_crypt::Key>) {
    use crate::engine::sealed;
    t.slices.retain_mut(|s| {
        if s.closed {
            return true;
        }
        let path = crate::engine::slice_path(dir, s.index);
        if sealed::is_sealed(&path) {
            let Some(key) = key else {
                tracing::warn!(
                    "slice {} of task {} is encrypted and no key was given: kept unmeasured",
                    s.index,
                    t.task_id
                );
                s.size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                s.closed = true;
                return true;
            };
            if let Err(e) = sealed::reseal(&path, key) {
                tracing::warn!("slice {} of task {}: {e}", s.index, t.task_id);
            }
        }
        match crate::engine::flv::readable_ms(&path, key) {
            Some(ms) => {
                s.duration_ms = ms;
                s.size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                s.closed = true;
                tracing::info!("recovered slice {} of task {} ({ms} ms)", s.index, t.task_id);
                true
            }
            None => {
                let _ = std::fs::remove_file(&path);
                false
            }
        }
    });
    t.slices.sort_by_key(|s| s.index);
    // Only the last slice can be open, so what remains is dense.
    t.slice_count = Some(t.slices.len() as i32);
}
