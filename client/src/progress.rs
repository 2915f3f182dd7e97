//! `record`'s progress line on stderr: recording and upload time, and the upload state.

use localrecord_client::recorder::Recorder;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// One status line, redrawn in place on a terminal, every 5 s otherwise.
pub struct Progress {
    total: Duration,
    tty: bool,
    last: Option<Instant>,
}

impl Progress {
    pub fn new(total: Duration) -> Progress {
        Progress {
            total,
            tty: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    pub async fn show(&mut self, rec: &Recorder, task: &str, phase: &str) {
        let every = if self.tty {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(5)
        };
        if self.last.is_some_and(|l| l.elapsed() < every) {
            return;
        }
        self.last = Some(Instant::now());
        let recorded = rec.recorded_ms().await;
        let views = rec.uploader().views(recorded.map(|ms| (task, ms)));
        let Some(v) = views.iter().find(|v| v.task_id == task) else {
            return;
        };
        let t = |ms: i64| format!("{:02}:{:02}", ms / 60_000, ms / 1000 % 60);
        let line = format!(
            "{phase} {} / {}  uploaded {} of {}  [{}]",
            t(recorded.unwrap_or(v.total_ms)),
            t(self.total.as_millis() as i64),
            t(v.uploaded_ms),
            t(v.total_ms),
            v.state
        );
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    pub fn done(&self) {
        if self.tty {
            eprintln!();
        }
    }
}
