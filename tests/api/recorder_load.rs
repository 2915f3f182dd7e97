//! The recorder on a machine kept busy on purpose: more spinning threads than cores, so capture
//! threads are starved and hand over frames in bursts. Every slice and the DstPath copy must still
//! have strictly increasing video timestamps at least a frame period apart (ffmpeg reads them at
//! 1/fps and fails on two frames in one tick), strictly increasing audio, and decode cleanly.

use crate::helpers::*;
use crate::media::*;
use crate::recorder_support::*;
use localrecord_client::recorder::StartParams;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Busy-loop threads that run until dropped.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start() -> Load {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get()) + 1;
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                })
            })
            .collect();
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// What a user would check: ffprobe's packet times, and ffmpeg decoding the file to nowhere.
fn assert_clean(file: &Path, fps: f64) {
    let v = packets(file, "v");
    assert!(!v.is_empty(), "{} has video", file.display());
    // FLV stores milliseconds: a 15 fps period is 66 or 67 of them.
    let period = 1.0 / fps - 0.0011;
    for w in v.windows(2) {
        assert!(
            w[1].dts - w[0].dts >= period,
            "{}: video dts {} then {} (less than a frame period)",
            file.display(),
            w[0].dts,
            w[1].dts
        );
    }
    let a = packets(file, "a");
    assert!(
        a.windows(2).all(|w| w[1].dts > w[0].dts),
        "{}: audio dts not strictly increasing",
        file.display()
    );
    assert_eq!(decode_errors(file), "", "{}", file.display());
}

#[tokio::test]
async fn a_recording_on_a_busy_machine_has_one_frame_per_tick_in_every_slice_and_dst_path() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&app.base, &dir.path().join("rec"));
    s.dst_dirs = vec![dir.path().to_owned()];
    let rec = localrecord_client::recorder::Recorder::open(s).unwrap();
    rec.init(creds(&app, "alice")).await.unwrap();
    let dst = dir.path().join("whole.flv");
    let load = Load::start();
    let task = rec
        .start(StartParams {
            dst_path: Some(dst.to_string_lossy().into_owned()),
            video_fps: Some(15),
            ..params(3101, 4)
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(12)).await;
    rec.stop().await.unwrap();
    drop(load);
    wait_uploaded(&rec, &task, 120).await;

    let st = app.task_status("alice", &task).await;
    let n = st["SliceCount"].as_i64().unwrap();
    assert!(n >= 2, "{st}");
    for i in 0..n as i32 {
        let file = stored_slice_file(&app, &task, i, dir.path()).await;
        assert_clean(&file, 15.0);
    }
    assert_clean(&dst, 15.0);
}
