//! The recorder binary killed with SIGKILL in the middle of a recording: after a restart it
//! uploads everything recorded before the kill (the slice being written included) and completes
//! the task. `serve` lists the recovered task in GetState's upload queue; `recover` finishes it.

use crate::helpers::*;
use crate::media::*;
use crate::recorder_support::*;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn a_recorder_killed_mid_recording_completes_the_task_after_restart() {
    let bin = recorder_bin();
    let app = spawn_app().await;
    let proxy = Proxy::start(app.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("rec");
    let common = |cmd: &mut tokio::process::Command| {
        cmd.args(["--source", "test", "--audio", "tone", "--server", &proxy.base])
            .arg("--data-dir")
            .arg(&data)
            .env("LOCALRECORD_USERSIG", app.usersig("alice"))
            .stderr(Stdio::inherit());
    };
    let mut record = tokio::process::Command::new(&bin);
    record.args(["record", "--sdkappid", &SDKAPPID.to_string(), "--user-id", "alice"]);
    record.args(["--class-id", "3004", "--duration", "120s", "--slice-time", "4"]);
    common(&mut record);
    let mut child = record.stdout(Stdio::piped()).kill_on_drop(true).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines
        .next_line()
        .await
        .unwrap()
        .expect("the recorder prints the TaskId");
    let task = serde_json::from_str::<serde_json::Value>(&first).unwrap()["TaskId"]
        .as_str()
        .unwrap()
        .to_owned();

    // Two slices cut (at 4 s and 8 s), the third half written: then SIGKILL.
    tokio::time::sleep(Duration::from_secs(10)).await;
    child.start_kill().unwrap();
    let st = child.wait().await.unwrap();
    assert!(!st.success(), "killed");
    let book: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("tasks").join(&task).join("task.json")).unwrap()).unwrap();
    assert!(
        book["slice_count"].is_null(),
        "the kill left the recording open: {book}"
    );
    let open = book["slices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["closed"] == false)
        .count();
    assert_eq!(open, 1, "one slice was being written: {book}");

    // Restarted as the control service while the network is still down: the unfinished task is
    // in the upload queue, not the current recording, and not uploaded.
    proxy.set_down(true);
    let s = serve(&proxy.base, &data, &[]).await;
    let st = cmd(&s, "GetState", serde_json::json!({})).await["Response"].clone();
    assert_eq!(st["Record"]["State"], "Idle");
    let up = &st["Upload"][0];
    assert_eq!(up["Id"], task.as_str(), "{st}");
    assert_eq!(up["IsCurrentRecoding"], false);
    assert_ne!(up["State"], "uploaded");
    assert!((9..=11).contains(&up["Total"].as_i64().unwrap()), "{st}");
    assert_eq!(
        cmd(&s, "Exit", serde_json::json!({})).await["Response"],
        serde_json::json!({})
    );
    let mut served = s.child;
    served.wait().await.unwrap();
    proxy.set_down(false);

    let mut recover = tokio::process::Command::new(&bin);
    recover.args(["recover", "--wait-secs", "120"]);
    common(&mut recover);
    let out = tokio::time::timeout(Duration::from_secs(150), recover.output())
        .await
        .expect("recover finishes")
        .unwrap();
    assert!(
        out.status.success(),
        "recover: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&task));

    let done = wait_done(&app, &task).await;
    assert_eq!(done["SliceCount"], 3, "{done}");
    let last = stored_slice_file(&app, &task, 2, dir.path()).await;
    let cut = content_secs(&last);
    assert!((1.0..=3.5).contains(&cut), "the slice being written keeps its {cut} s");
    let mp4 = download_mp4(&app, &done, dir.path()).await;
    let secs = format_duration(&mp4);
    assert!(
        (9.0..=11.5).contains(&secs),
        "about 10 s were recorded before the kill; the MP4 has {secs} s"
    );
    assert_eq!(decode_errors(&mp4), "");
    assert!(
        !data.join("tasks").join(&task).exists(),
        "the finished task leaves the book"
    );
}
