//! Real tus clients, unmodified, against the server: tuspy (PyPI) with checksums on, in chunks, and
//! resuming an upload it did not finish (its own file-based URL storage).

use crate::helpers::*;
use std::process::Command;

fn python() -> String {
    std::env::var("LOCALRECORD_TEST_PYTHON").unwrap_or_else(|_| {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/target/tools/venv/bin/python");
        assert!(
            std::path::Path::new(p).exists(),
            "tuspy venv missing: run `deploy/localrecord.sh test` or set LOCALRECORD_TEST_PYTHON"
        );
        p.to_owned()
    })
}

const SCRIPT: &str = r#"
import sys
from tusclient import client
from tusclient.storage import filestorage
endpoint, auth, path, task, store, stop_after = sys.argv[1:7]
c = client.TusClient(endpoint, headers={"Authorization": auth})
u = c.uploader(file_path=path, chunk_size=256 * 1024, upload_checksum=True, store_url=True,
               url_storage=filestorage.FileStorage(store),
               metadata={"task_id": task, "slice_index": "0", "filename": "slice-0.flv"})
stop_after = int(stop_after)
if stop_after:
    for _ in range(stop_after):
        u.upload_chunk()
else:
    u.upload()
print(u.url, u.offset)
"#;

fn tuspy(
    app: &TestApp,
    path: &std::path::Path,
    task: &str,
    store: &std::path::Path,
    stop_after: usize,
) -> (String, i64) {
    let out = Command::new(python())
        .args(["-c", SCRIPT, &app.url("/localrecord/v1/uploads/"), &app.auth("alice")])
        .arg(path)
        .arg(task)
        .arg(store)
        .arg(stop_after.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tuspy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let (url, offset) = line.trim().rsplit_once(' ').unwrap();
    (url.to_owned(), offset.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn tuspy_uploads_and_resumes_a_slice() {
    let app = spawn_app().await;
    let task = app.create_task("alice", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slice-0.flv");
    let data = bytes(1_000_000, 6);
    std::fs::write(&file, &data).unwrap();
    let store = dir.path().join("tus-urls.json");

    // The first run sends two chunks and stops (as a recorder killed mid-upload would).
    let (url, offset) = tokio::task::block_in_place(|| tuspy(&app, &file, &task, &store, 2));
    assert_eq!(offset, 512 * 1024);
    assert_eq!(app.tus_offset("alice", &url).await, offset);
    assert!(app.stored_slice(&task, 0).await.is_none());

    // The second run finds the URL in its storage, asks the server for the offset and finishes.
    let (url2, offset) = tokio::task::block_in_place(|| tuspy(&app, &file, &task, &store, 0));
    assert_eq!(url2, url, "tuspy resumed the same upload");
    assert_eq!(offset, data.len() as i64);
    assert_eq!(app.stored_slice(&task, 0).await.unwrap(), data);
    assert_eq!(
        app.task_status("alice", &task).await["Slices"][0]["Md5"],
        md5_hex(&data)
    );
}
