//! Real tus clients, unmodified, against the server: tuspy (PyPI) with checksums on, in chunks, and
//! resuming an upload it did not finish (its own file-based URL storage); tus-js-client 4 (npm, run
//! by node) in chunks, aborted, then resumed from its upload URL.

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

/// tus-js-client installed from npm under `<target>/tools/tus-js` (once), with its driver script.
fn tus_js_dir() -> std::path::PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
    let dir = target.join("tools/tus-js");
    std::fs::create_dir_all(&dir).unwrap();
    if !dir.join("node_modules/tus-js-client/package.json").exists() {
        let st = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg("tus-js-client@4")
            .status()
            .expect("npm on PATH (tus-js-client test)");
        assert!(st.success(), "npm install tus-js-client failed");
    }
    std::fs::write(dir.join("upload.cjs"), TUS_JS).unwrap();
    dir
}

const TUS_JS: &str = r#"
const tus = require('tus-js-client');
const fs = require('node:fs');
const [endpoint, auth, path, task, stopAfter, resumeUrl] = process.argv.slice(2);
const data = fs.readFileSync(path);
let chunks = 0;
const up = new tus.Upload(data, {
  endpoint, uploadUrl: resumeUrl || null, chunkSize: 1024 * 1024, retryDelays: [0, 500],
  headers: { Authorization: auth },
  metadata: { task_id: task, slice_index: '0', filename: 'slice-0.flv' },
  onChunkComplete: (size, sent) => {
    chunks++;
    if (+stopAfter && chunks >= +stopAfter) up.abort().then(() => console.log(up.url, sent));
  },
  onSuccess: () => console.log(up.url, data.length),
  onError: (e) => { console.error(String(e)); process.exit(1); },
});
up.start();
"#;

fn tus_js(app: &TestApp, path: &std::path::Path, task: &str, stop_after: usize, resume: &str) -> (String, i64) {
    let dir = tus_js_dir();
    let out = Command::new("node")
        .arg(dir.join("upload.cjs"))
        .args([&app.url("/localrecord/v1/uploads/"), &app.auth("alice")])
        .arg(path)
        .args([task, &stop_after.to_string(), resume])
        .output()
        .expect("node on PATH (tus-js-client test)");
    assert!(
        out.status.success(),
        "tus-js-client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let (url, offset) = line.trim().rsplit_once(' ').unwrap();
    (url.to_owned(), offset.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn tus_js_client_uploads_in_chunks_and_resumes_a_slice() {
    let app = spawn_app().await;
    let task = app.create_task("alice", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slice-0.flv");
    let data = bytes(3 * 1024 * 1024 + 4321, 21);
    std::fs::write(&file, &data).unwrap();

    // Two 1 MiB chunks, then the client stops (a browser tab closed mid-upload).
    let (url, offset) = tokio::task::block_in_place(|| tus_js(&app, &file, &task, 2, ""));
    assert_eq!(offset, 2 * 1024 * 1024);
    assert_eq!(app.tus_offset("alice", &url).await, offset);
    assert!(app.stored_slice(&task, 0).await.is_none());

    // A new client given the upload URL asks the server for the offset and finishes.
    let (url2, offset) = tokio::task::block_in_place(|| tus_js(&app, &file, &task, 0, &url));
    assert_eq!(url2, url, "tus-js-client resumed the same upload");
    assert_eq!(offset, data.len() as i64);
    assert_eq!(app.stored_slice(&task, 0).await.unwrap(), data);
    assert_eq!(
        app.task_status("alice", &task).await["Slices"][0]["Md5"],
        md5_hex(&data)
    );
}
