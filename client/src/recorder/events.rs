//! The engine's events, written into the task book as they happen (from the engine's thread):
//! slices opened and closed, and the end of the recording with its slice count.

use super::book::SliceRecord;
use super::Recorder;
use crate::engine::Event;

impl Recorder {
    /// The engine's events, written into the book as they happen (from the engine's thread).
    pub(super) fn engine_events(&self, task_id: String) -> Box<dyn FnMut(Event) + Send> {
        let (book, uploader, ended) = (self.book.clone(), self.uploader.clone(), self.ended.clone());
        Box::new(move |ev| {
            let r = match ev {
                Event::SliceOpened { index, .. } => book.update(&task_id, |t| {
                    t.slices.push(SliceRecord {
                        index,
                        duration_ms: 0,
                        size: 0,
                        closed: false,
                        confirmed: false,
                    })
                }),
                Event::SliceClosed {
                    index,
                    duration_ms,
                    size,
                    ..
                } => book.update(&task_id, |t| {
                    if let Some(s) = t.slices.iter_mut().find(|s| s.index == index) {
                        (s.duration_ms, s.size, s.closed) = (duration_ms, size, true);
                    }
                }),
                Event::Finished {
                    slices,
                    recorded_ms,
                    error,
                } => {
                    if let Some(e) = &error {
                        tracing::error!("recording {task_id} ended: {e}");
                    }
                    tracing::info!("recording {task_id}: {slices} slices, {recorded_ms} ms");
                    *ended.lock().expect("ended") = Some((task_id.clone(), error));
                    book.update(&task_id, |t| {
                        t.slices.retain(|s| s.closed && s.index < slices);
                        t.slice_count = Some(t.slices.len() as i32);
                    })
                }
            };
            if let Err(e) = r {
                tracing::error!("task book for {task_id}: {e}");
            }
            uploader.wake();
        })
    }
}
