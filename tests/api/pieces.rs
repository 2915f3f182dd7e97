//! Splicing at landing (`splice::piece` + `splice::assemble`): slices prepared one by one into a
//! body file, then the index put in front, must give exactly the MP4 a splice gives (every packet's
//! times and bytes, every decoded frame) on recorder slices, foreign-encoder slices, and every
//! defect the splice handles; and through the server, the stop takes that path and cleans up.

use crate::faults::wait_task;
use crate::helpers::*;
use crate::media::*;
use localrecord::progress::Progress;
use localrecord::splice::assemble::prepare_and_assemble;
use localrecord::splice::{splice_files, splice_files_sequential, SliceOutcome, Summary};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Asserts the two MP4s carry the same packets per stream and decode to the same frames.
pub(crate) fn same_media(ours: &Path, theirs: &Path) {
    assert!(moov_first(ours), "the index is in front");
    assert_eq!(decode_errors(ours), "");
    let (pa, pb) = (probe_packets(ours), probe_packets(theirs));
    assert_eq!(pa.len(), pb.len(), "packet count");
    for video in [true, false] {
        let sa: Vec<_> = pa.iter().filter(|p| p.video == video).collect();
        let sb: Vec<_> = pb.iter().filter(|p| p.video == video).collect();
        assert_eq!(sa.len(), sb.len());
        for (i, (x, y)) in sa.iter().zip(&sb).enumerate() {
            let same = (x.pts - y.pts).abs() < 1e-6 && (x.dts - y.dts).abs() < 1e-6 && x.hash == y.hash;
            assert!(same, "video={video} packet {i}: assembled {x:?}, spliced {y:?}");
        }
    }
    assert_eq!(frame_hashes(ours), frame_hashes(theirs), "decoded frames");
    assert!((format_duration(ours) - format_duration(theirs)).abs() < 0.001);
}

fn same_reports(a: &Summary, b: &Summary) {
    assert_eq!(a.duration_ms, b.duration_ms);
    assert_eq!(a.slices.len(), b.slices.len());
    for (x, y) in a.slices.iter().zip(&b.slices) {
        assert_eq!(
            (&x.outcome, x.packets, x.dropped, x.duration_ms, x.has_audio),
            (&y.outcome, y.packets, y.dropped, y.duration_ms, y.has_audio),
            "slice {}",
            x.path.display()
        );
    }
}

/// Assembles `inputs` (prepared one by one, as the server does while the class goes on), splices
/// them on every core (`splice_files`: prepared into regions of the output in parallel) and one
/// slice after the other through one packet loop; asserts all three agree; returns the assembled
/// summary.
fn agree(inputs: &[PathBuf], dir: &Path) -> Summary {
    let (ours, theirs, par) = (
        dir.join("assembled.mp4"),
        dir.join("spliced.mp4"),
        dir.join("parallel.mp4"),
    );
    let a = prepare_and_assemble(inputs, &ours).unwrap();
    let b = splice_files_sequential(inputs, &[], &theirs, &Progress::new()).unwrap();
    let c = splice_files(inputs, &par).unwrap();
    assert!(c.parallel, "these slices splice on every core");
    same_media(&ours, &theirs);
    same_media(&par, &theirs);
    same_reports(&a, &b);
    same_reports(&c, &b);
    assert_eq!(a.size, std::fs::metadata(&ours).unwrap().len());
    assert_eq!(c.size, std::fs::metadata(&par).unwrap().len());
    a
}

fn made(dir: &Path, enc: Encoder, specs: &[SliceSpec]) -> Vec<PathBuf> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let spec = SliceSpec {
                tone: 440 + 110 * i as u32,
                secs: s.secs,
                size: s.size,
                audio: s.audio,
            };
            make_slice_with(dir, &format!("{i}.flv"), &spec, enc)
        })
        .collect()
}

fn plain(n: usize) -> Vec<SliceSpec> {
    (0..n).map(|_| SliceSpec::default()).collect()
}

#[test]
fn recorder_slices_assemble_to_the_spliced_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let ins = made(dir.path(), Encoder::Recorder, &plain(3));
    agree(&ins, dir.path());
}

#[test]
fn foreign_slices_with_b_frames_and_priming_assemble_to_the_spliced_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let ins = made(dir.path(), Encoder::Foreign, &plain(3));
    agree(&ins, dir.path());
}

#[test]
fn defects_are_handled_exactly_as_the_splice_handles_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut specs = plain(6);
    specs[2].audio = false;
    let ins = made(dir.path(), Encoder::Test, &specs);
    // Slice 1: garbled inside a keyframe (a GOP is dropped); slice 3: cut by a crash; slice 4:
    // empty; slice 5: not FLV at all.
    let keys = keyframes(&ins[1]);
    let (pos, _) = keys[keys.len() / 2];
    let mut bytes = std::fs::read(&ins[1]).unwrap();
    for (i, b) in bytes[pos + 100..pos + 2100].iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(2654435761).to_be_bytes()[1];
    }
    std::fs::write(&ins[1], &bytes).unwrap();
    let cut = std::fs::read(&ins[3]).unwrap();
    std::fs::write(&ins[3], &cut[..cut.len() * 6 / 10]).unwrap();
    std::fs::write(&ins[4], b"").unwrap();
    std::fs::write(
        &ins[5],
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://x/y.ts\n",
    )
    .unwrap();
    let s = agree(&ins, dir.path());
    assert_eq!(s.slices[1].dropped, 30, "one GOP of the garbled slice");
    assert!(!s.slices[2].has_audio);
    assert!(
        s.slices[3].duration_ms < s.slices[0].duration_ms * 8 / 10,
        "read up to the cut"
    );
    assert_eq!(s.slices[4].outcome, SliceOutcome::Skipped);
    assert_eq!(s.slices[5].outcome, SliceOutcome::Skipped);
}

#[test]
fn a_slice_of_another_resolution_is_left_to_the_splice() {
    let dir = tempfile::tempdir().unwrap();
    let mut specs = plain(2);
    specs[1].size = "640x360";
    let ins = made(dir.path(), Encoder::Test, &specs);
    let err = prepare_and_assemble(&ins, &dir.path().join("a.mp4")).unwrap_err();
    assert!(format!("{err:#}").contains("differs"), "{err:#}");
}

/// Through the server on the fs store: slices uploaded while recording are prepared as they land
/// (rows in `slice_pieces`); the stop consumes them (rows and body gone) and the recording is the
/// same MP4 a splice of the same slices makes.
#[tokio::test]
async fn the_stop_assembles_what_was_prepared_while_recording() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let ins = made(dir.path(), Encoder::Recorder, &plain(3));
    let task = app.create_task("alice", 4242).await;
    upload_all(&app, &task, &ins).await;
    let prepared = wait_for_pieces(&app, &task, 3).await;
    assert_eq!(prepared, 3, "every slice was prepared before the stop");
    let body = app.state.store.local_path(&format!("assembly/{task}/body")).unwrap();
    assert!(body.exists());
    assert_eq!(app.stop_task("alice", &task, 3).await.status(), 200);
    let st = wait_task(&app, &task, 60, |st| {
        st["State"] == "done" && st["VideoOutputUrl"].is_string()
    })
    .await;
    assert_eq!(piece_rows(&app, &task).await, 0, "the stop consumed the pieces");
    assert!(!body.exists(), "the body became the recording");
    served_as_spliced(&app, &st, &ins, dir.path()).await;
}

/// A stop that consumed the body and then died before publishing leaves rows without a body: the
/// next run prepares the slices again and the recording is still whole.
#[tokio::test]
async fn rows_without_their_body_are_prepared_again() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let ins = made(dir.path(), Encoder::Test, &plain(2));
    let task = app.create_task("alice", 4243).await;
    upload_all(&app, &task, &ins).await;
    assert_eq!(wait_for_pieces(&app, &task, 2).await, 2);
    std::fs::remove_file(app.state.store.local_path(&format!("assembly/{task}/body")).unwrap()).unwrap();
    assert_eq!(app.stop_task("alice", &task, 2).await.status(), 200);
    let st = wait_task(&app, &task, 60, |st| {
        st["State"] == "done" && st["VideoOutputUrl"].is_string()
    })
    .await;
    served_as_spliced(&app, &st, &ins, dir.path()).await;
}

/// A slice with more packets than `jobs.piece_max_packets` (what a hostile mass of tiny packets
/// would be; here the cap is lowered below a real slice's count) gets a piece with no table, so
/// the memory a slice can claim is bounded by the cap, and the stop splices the whole class
/// instead: the recording is still exactly the splice's.
#[tokio::test]
async fn a_slice_past_the_packet_cap_keeps_no_table_and_the_stop_splices_it_whole() {
    let app = spawn_app_with(StoreKind::Fs, |s| s.jobs.piece_max_packets = 100).await;
    let dir = tempfile::tempdir().unwrap();
    let ins = made(dir.path(), Encoder::Recorder, &plain(2));
    let task = app.create_task("alice", 4343).await;
    upload_all(&app, &task, &ins).await;
    assert_eq!(wait_for_pieces(&app, &task, 2).await, 2);
    let rows: Vec<(i64, bool)> = sqlx::query_as(
        "SELECT octet_length(samples)::bigint, (meta->>'oversized')::bool FROM slice_pieces
         WHERE task_id = $1 ORDER BY slice_index",
    )
    .bind(&task)
    .fetch_all(&app.state.db)
    .await
    .unwrap();
    assert_eq!(rows, vec![(0, true), (0, true)], "over the cap: marked, no table kept");
    assert_eq!(app.stop_task("alice", &task, 2).await.status(), 200);
    let st = wait_task(&app, &task, 60, |st| {
        st["State"] == "done" && st["VideoOutputUrl"].is_string()
    })
    .await;
    served_as_spliced(&app, &st, &ins, dir.path()).await;
    assert_eq!(
        piece_rows(&app, &task).await,
        0,
        "the whole splice cleared what was prepared"
    );
}

/// Recorder slices long enough that their pieces are larger than S3's 5 MiB minimum part (so the
/// stop's multipart upload copies pieces server-side and sends only the header and the runs that
/// fill parts up), with a short one between them.
pub(crate) fn s3_slices(dir: &Path) -> Vec<PathBuf> {
    let spec = |secs| SliceSpec {
        secs,
        ..SliceSpec::default()
    };
    made(dir, Encoder::Recorder, &[spec(90.0), spec(6.0), spec(60.0)])
}

/// The S3 objects prepared for `task` (its pieces), and the rows' piece objects and lengths.
pub(crate) async fn piece_objects(app: &TestApp, task: &str) -> (Vec<String>, Vec<(Option<String>, i64)>) {
    let listed = app.state.store.list(&format!("assembly/{task}/")).await.unwrap();
    let rows = sqlx::query_as("SELECT piece_key, media_len FROM slice_pieces WHERE task_id = $1 ORDER BY slice_index")
        .bind(task)
        .fetch_all(&app.state.db)
        .await
        .unwrap();
    (listed, rows)
}

/// On S3, a piece object that vanished before the stop voids its row: the stop prepares that
/// slice again and the recording is still the splice's.
#[tokio::test]
async fn on_s3_a_piece_without_its_object_is_prepared_again() {
    let app = spawn_app_on(StoreKind::S3).await;
    let dir = tempfile::tempdir().unwrap();
    let ins = made(dir.path(), Encoder::Test, &plain(3));
    let task = app.create_task("alice", 4245).await;
    upload_all(&app, &task, &ins).await;
    assert_eq!(wait_for_pieces(&app, &task, 3).await, 3);
    let (_, rows) = piece_objects(&app, &task).await;
    app.state.store.delete(rows[1].0.as_ref().unwrap()).await.unwrap();
    assert_eq!(app.stop_task("alice", &task, 3).await.status(), 200);
    let st = wait_task(&app, &task, 60, |st| {
        st["State"] == "done" && st["VideoOutputUrl"].is_string()
    })
    .await;
    served_as_spliced(&app, &st, &ins, dir.path()).await;
    wait_composed(&app, &task).await;
}

/// On S3, a slice that lands after the recording was made (here: the recorder went silent, what
/// arrived was spliced, then it came back with a slice and its stop) re-splices it, and the new
/// recording is the splice of every slice.
#[tokio::test]
async fn on_s3_a_late_slice_makes_a_correct_recording() {
    let app = spawn_app_with(StoreKind::S3, |s| {
        s.jobs.splice_idle_secs = 2;
        s.jobs.lease_secs = 2;
        s.jobs.resplice_delay_secs = 0;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ins = made(dir.path(), Encoder::Test, &plain(3));
    let task = app.create_task("alice", 4246).await;
    upload_all(&app, &task, &ins[..2]).await;
    let first = wait_task(&app, &task, 60, |st| st["VideoOutputId"].is_string()).await;
    wait_composed(&app, &task).await;
    app.upload_slice("alice", &task, 2, &std::fs::read(&ins[2]).unwrap(), 256 * 1024)
        .await;
    assert_eq!(app.stop_task("alice", &task, 3).await.status(), 200);
    let st = wait_task(&app, &task, 60, |st| st["State"] == "done" && st["SliceCount"] == 3).await;
    assert_eq!(st["VideoOutputId"], first["VideoOutputId"]);
    served_as_spliced(&app, &st, &ins, dir.path()).await;
    wait_composed(&app, &task).await;
}

/// The recording the server serves for status `st` is the MP4 a splice of `ins` makes.
pub(crate) async fn served_as_spliced(app: &TestApp, st: &serde_json::Value, ins: &[PathBuf], dir: &Path) {
    let mp4 = dir.join("served.mp4");
    let bytes = app
        .client
        .get(st["VideoOutputUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    std::fs::write(&mp4, &bytes).unwrap();
    let spliced = dir.join("spliced.mp4");
    splice_files(ins, &spliced).unwrap();
    same_media(&mp4, &spliced);
}

/// Waits until the task's recording is one object and nothing prepared for it is left: no piece
/// rows, no objects under its assembly prefix.
pub(crate) async fn wait_composed(app: &TestApp, task: &str) {
    let until = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let parts: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT video_output_parts FROM tasks WHERE task_id = $1")
                .bind(task)
                .fetch_one(&app.state.db)
                .await
                .unwrap();
        let (left, _) = piece_objects(app, task).await;
        if parts.is_none() && left.is_empty() && piece_rows(app, task).await == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "never composed: parts {parts:?}, objects {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) async fn wait_for_pieces(app: &TestApp, task: &str, want: i64) -> i64 {
    let mut n = 0;
    for _ in 0..600 {
        n = piece_rows(app, task).await;
        if n >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    n
}

pub(crate) async fn piece_rows(app: &TestApp, task: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM slice_pieces WHERE task_id = $1")
        .bind(task)
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

/// Uploads slice i of `task` from `ins[i]`, in 256 KiB chunks.
async fn upload_all(app: &TestApp, task: &str, ins: &[PathBuf]) {
    upload_all_in(app, task, ins, 256 * 1024).await
}

/// Uploads slice i of `task` from `ins[i]`, in chunks of `chunk` bytes.
pub(crate) async fn upload_all_in(app: &TestApp, task: &str, ins: &[PathBuf], chunk: usize) {
    for (i, f) in ins.iter().enumerate() {
        app.upload_slice("alice", task, i as i64, &std::fs::read(f).unwrap(), chunk)
            .await;
    }
}
