//! A channel bounded in bytes, not items: the splicer's reader thread may run ahead of the MP4
//! writer by at most `cap` bytes of packets, however large each packet is (a hostile slice's
//! packets can be megabytes each; 256 of them would not be "a few seconds").

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

struct Shared {
    /// (bytes queued, receiver gone)
    state: Mutex<(usize, bool)>,
    freed: Condvar,
    cap: usize,
}

pub struct Sender<T> {
    tx: mpsc::Sender<(T, usize)>,
    shared: Arc<Shared>,
}

pub struct Receiver<T> {
    rx: mpsc::Receiver<(T, usize)>,
    shared: Arc<Shared>,
}

pub fn channel<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::channel();
    let shared = Arc::new(Shared {
        state: Mutex::new((0, false)),
        freed: Condvar::new(),
        cap,
    });
    (
        Sender {
            tx,
            shared: shared.clone(),
        },
        Receiver { rx, shared },
    )
}

impl<T> Sender<T> {
    /// Queues `item` of `bytes`, waiting while the queue is full (one item always fits). Gives the
    /// item back when the receiver is gone.
    pub fn send(&self, item: T, bytes: usize) -> Result<(), T> {
        let s = &self.shared;
        let mut st = s.state.lock().unwrap_or_else(|e| e.into_inner());
        while !st.1 && st.0 > 0 && st.0 + bytes > s.cap {
            st = s.freed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if st.1 {
            return Err(item);
        }
        st.0 += bytes;
        drop(st);
        self.tx.send((item, bytes)).map_err(|e| e.0 .0)
    }
}

impl<T> Receiver<T> {
    /// The next item, None once every sender is gone.
    pub fn recv(&self) -> Option<T> {
        let (item, bytes) = self.rx.recv().ok()?;
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.0 -= bytes;
        self.shared.freed.notify_all();
        Some(item)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.1 = true;
        self.shared.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_sender_waits_for_bytes_not_items_and_never_deadlocks() {
        let (tx, rx) = channel::<Vec<u8>>(10);
        tx.send(vec![0; 8], 8).unwrap();
        let t = std::thread::spawn(move || {
            tx.send(vec![0; 8], 8).unwrap(); // waits: 16 > 10
            tx.send(vec![0; 100], 100).unwrap(); // larger than cap: goes alone
            tx
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished(), "blocked while 8 + 8 bytes exceed the cap");
        assert_eq!(rx.recv().unwrap().len(), 8);
        assert_eq!(rx.recv().unwrap().len(), 8);
        assert_eq!(rx.recv().unwrap().len(), 100);
        let tx = t.join().unwrap();
        tx.send(vec![0; 8], 8).unwrap();
        let waiting = std::thread::spawn(move || tx.send(vec![0; 8], 8));
        drop(rx);
        assert!(waiting.join().unwrap().is_err(), "a gone receiver frees the sender");
    }
}
