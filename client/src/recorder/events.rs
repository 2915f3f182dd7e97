//! The engine's events, written into the task book as they happen (from the engine's thread):
//! slices opened and closed, and the end of the recording with its slice count.

use super::Recorder;
use crate::engine::Event;

impl Recorder {
    /// The engine's events, written into the book as they happen (from the engine's thread).
    pub(super) fn engine_events(&self, task_id: String) -> Box<dyn FnMut(Event) + Send> {
        let (book, uploader, ended) = (self.book.clone(), self.uploader.clone(), self.ended.clone());
        Box::new(move |ev| {
            let r = match ev {
                Event::SliceOpened { index, .. } => book.slice_opened(&task_id, index),
                Event::SliceClosed {
                    index,
                    duration_ms,
                    size,
                    ..
                } => book.slice_closed(&task_id, index, duration_ms, size),
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
                    book.recording_ended(&task_id, slices)
                }
            };
            if let Err(e) = r {
                tracing::error!("task book for {task_id}: {e}");
            }
            uploader.wake();
        })
    }
}
