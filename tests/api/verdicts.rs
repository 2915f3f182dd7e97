//! Keyframe verdicts are found once and passed back (`splice::verify`): a later read of a slice
//! trusts them instead of decoding its keyframes again, which is what keeps a splice after the
//! class (a re-splice, a store without the prepared fast path) as fast as the remux. Shown by
//! giving false verdicts: only a reader that trusts them, rather than decoding, obeys them.

use crate::faults::wait_task;
use crate::helpers::*;
use crate::media::*;
use crate::pieces::same_media;
use localrecord::progress::Progress;
use localrecord::splice::{splice_files, splice_files_known};
use std::path::{Path, PathBuf};

/// Three test slices; the middle keyframe of slice 1 garbled as in `splice.rs`. Returns the slices
/// and that keyframe's ordinal.
fn garbled_set(dir: &Path) -> (Vec<PathBuf>, u32) {
    let ins: Vec<PathBuf> = (0..3)
        .map(|i| {
            let spec = SliceSpec {
                tone: 440 + 110 * i,
                ..Default::default()
            };
            make_slice(dir, &format!("{i}.flv"), &spec)
        })
        .collect();
    let keys = keyframes(&ins[1]);
    let k = keys.len() / 2;
    let (pos, _) = keys[k];
    let mut bytes = std::fs::read(&ins[1]).unwrap();
    for (i, b) in bytes[pos + 100..pos + 2100].iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(2654435761).to_be_bytes()[1];
    }
    std::fs::write(&ins[1], &bytes).unwrap();
    (ins, k as u32)
}

#[test]
fn a_splice_reports_its_verdicts_and_a_later_one_trusts_them() {
    let dir = tempfile::tempdir().unwrap();
    let (ins, bad) = garbled_set(dir.path());
    let first = splice_files(&ins, &dir.path().join("1.mp4")).unwrap();
    let found: Vec<_> = first.slices.iter().map(|r| r.bad_keyframes.clone()).collect();
    assert_eq!(found, vec![Some(vec![]), Some(vec![bad]), Some(vec![])]);
    assert_eq!(first.slices[1].dropped, 30);

    // Passed back: the same recording, packet for packet and frame for frame.
    let again = splice_files_known(&ins, &found, &dir.path().join("2.mp4"), &Progress::new()).unwrap();
    same_media(&dir.path().join("2.mp4"), &dir.path().join("1.mp4"));
    assert_eq!(again.slices[1].dropped, 30);

    // Trusted, not decoded: a sound keyframe said to be bad loses its GOP, and the garbled one
    // said to be sound is kept.
    let lies = vec![Some(vec![0]), Some(vec![]), None];
    let told = splice_files_known(&ins, &lies, &dir.path().join("3.mp4"), &Progress::new()).unwrap();
    assert_eq!((told.slices[0].dropped, told.slices[1].dropped), (30, 0));
    // Slice 2 had no verdict: it was decoded, and says so.
    assert_eq!(told.slices[2].bad_keyframes, Some(vec![]));
}

async fn checks(app: &TestApp, task: &str) -> Vec<(i32, Vec<i32>)> {
    sqlx::query_as("SELECT slice_index, bad_keyframes FROM slice_checks WHERE task_id = $1 ORDER BY 1")
        .bind(task)
        .fetch_all(&app.state.db)
        .await
        .unwrap()
}

/// The server keeps what the slices' first read found, whichever read that was (the preparation
/// as a slice lands, or the whole splice), and the whole splice passes kept verdicts back.
#[tokio::test]
async fn the_server_keeps_verdicts_and_its_splice_uses_them() {
    let dir = tempfile::tempdir().unwrap();
    let (ins, bad) = garbled_set(dir.path());
    for prepare in [true, false] {
        let app = spawn_app_with(StoreKind::Fs, |s| s.jobs.prepare_slices = prepare).await;
        let task = app.create_task("alice", 4400).await;
        for (i, f) in ins.iter().enumerate() {
            app.upload_slice("alice", &task, i as i64, &std::fs::read(f).unwrap(), 256 * 1024)
                .await;
        }
        if !prepare {
            // A verdict kept from an earlier read, false on purpose: the splice must obey it.
            sqlx::query(
                "INSERT INTO slice_checks (task_id, slice_index, version, bad_keyframes) VALUES ($1, 0, 1, '{0}')",
            )
            .bind(&task)
            .execute(&app.state.db)
            .await
            .unwrap();
        }
        assert_eq!(app.stop_task("alice", &task, 3).await.status(), 200);
        let st = wait_task(&app, &task, 60, |st| st["State"] == "done" || st["State"] == "partial").await;
        let want_first = if prepare { vec![] } else { vec![0] };
        assert_eq!(
            checks(&app, &task).await,
            vec![(0, want_first), (1, vec![bad as i32]), (2, vec![])],
            "prepare_slices = {prepare}"
        );
        let mp4 = dir.path().join(format!("served-{prepare}.mp4"));
        let url = st["VideoOutputUrl"].as_str().unwrap();
        std::fs::write(&mp4, app.client.get(url).send().await.unwrap().bytes().await.unwrap()).unwrap();
        let frames = packets(&mp4, "v").len();
        let whole = ins.iter().map(|p| packets(p, "v").len()).sum::<usize>();
        let lost = if prepare { 30 } else { 60 };
        assert_eq!(frames, whole - lost, "prepare_slices = {prepare}: GOPs dropped");
    }
}
