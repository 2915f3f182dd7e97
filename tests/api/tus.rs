//! tus 1.0.0 ingest. The `scenario_*` functions run on both stores (fs here, S3 in `tus_s3`).

use crate::helpers::*;
use localrecord_client::api::codes;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

async fn no_parts_left(app: &TestApp) {
    let left = app.state.store.list("uploads/").await.unwrap();
    assert!(left.is_empty(), "part objects left behind: {left:?}");
}

pub async fn scenario_chunked_upload_with_md5(kind: StoreKind) {
    let app = spawn_app_on(kind).await;
    let task = app.create_task("alice", 1).await;
    let data = bytes(7 * 1024 * 1024 + 123, 7);
    let url = app.upload_slice("alice", &task, 0, &data, 2 * 1024 * 1024).await;
    assert_eq!(app.tus_offset("alice", &url).await, data.len() as i64);
    let st = app.task_status("alice", &task).await;
    assert_eq!(st["Slices"][0]["State"], "uploaded");
    assert_eq!(st["Slices"][0]["Md5"], md5_hex(&data));
    assert_eq!(app.stored_slice(&task, 0).await.unwrap(), data);
    no_parts_left(&app).await;
}

pub async fn scenario_corrupted_chunk_is_rejected(kind: StoreKind) {
    let app = spawn_app_on(kind).await;
    let task = app.create_task("alice", 1).await;
    let data = bytes(300_000, 9);
    let url = location(&app.tus_create("alice", &task, 0, data.len()).await);
    assert_eq!(
        app.tus_patch("alice", &url, 0, data[..100_000].to_vec(), true)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    // The checksum is of the right bytes, but one byte flips in transit.
    let mut corrupt = data[100_000..200_000].to_vec();
    let good_sum = md5_b64(&corrupt);
    corrupt[5000] ^= 0xff;
    let r = app
        .tus(Method::PATCH, &url, "alice")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", "100000")
        .header("upload-checksum", format!("md5 {good_sum}"))
        .body(corrupt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 460);
    assert_eq!(error_of(r).await.0, codes::CHECKSUM_MISMATCH);
    assert_eq!(
        app.tus_offset("alice", &url).await,
        100_000,
        "the bad chunk was discarded"
    );

    // sha1 works too, and the upload completes with the right bytes.
    use sha1::Digest;
    let chunk = data[100_000..].to_vec();
    let sum = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sha1::Sha1::digest(&chunk));
    let r = app
        .tus(Method::PATCH, &url, "alice")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", "100000")
        .header("upload-checksum", format!("sha1 {sum}"))
        .body(chunk)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.stored_slice(&task, 0).await.unwrap(), data);
    no_parts_left(&app).await;
}

/// Sends a PATCH with a Content-Length of `full` but only `sent` bytes, then drops the connection.
pub async fn cut_patch(app: &TestApp, url: &str, offset: usize, data: &[u8], full: usize) {
    let path = url.splitn(4, '/').nth(3).unwrap();
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "PATCH /{path} HTTP/1.1\r\nHost: {}\r\nTus-Resumable: 1.0.0\r\nAuthorization: {}\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\nContent-Length: {full}\r\n\r\n",
        app.addr,
        app.auth("alice")
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(data).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(s);
}

pub async fn wait_for_offset(app: &TestApp, url: &str, want: i64) {
    for _ in 0..100 {
        if app.tus_offset("alice", url).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "offset never reached {want} (now {})",
        app.tus_offset("alice", url).await
    );
}

pub async fn scenario_interrupted_mid_chunk_then_resumed(kind: StoreKind) {
    let app = spawn_app_on(kind).await;
    let task = app.create_task("alice", 1).await;
    let data = bytes(3_000_000, 3);
    let url = location(&app.tus_create("alice", &task, 0, data.len()).await);
    // The connection dies 1.2 MB into a 3 MB chunk: the 1.2 MB that arrived are kept.
    cut_patch(&app, &url, 0, &data[..1_200_000], data.len()).await;
    wait_for_offset(&app, &url, 1_200_000).await;
    let r = app
        .tus_patch("alice", &url, 1_200_000, data[1_200_000..].to_vec(), true)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.stored_slice(&task, 0).await.unwrap(), data);
    no_parts_left(&app).await;
}

pub async fn scenario_parallel_partial_uploads_concatenated(kind: StoreKind) {
    let app = spawn_app_on(kind).await;
    let task = app.create_task("alice", 1).await;
    let data = bytes(6 * 1024 * 1024 + 7, 5);
    let thirds: Vec<Vec<u8>> = data.chunks(data.len() / 3 + 1).map(<[u8]>::to_vec).collect();
    assert_eq!(thirds.len(), 3);
    let uploads = thirds.iter().map(|part| {
        let app = &app;
        async move {
            let r = app
                .tus(Method::POST, &app.url("/localrecord/v1/uploads/"), "alice")
                .header("upload-length", part.len().to_string())
                .header("upload-concat", "partial")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            let url = location(&r);
            let half = part.len() / 2;
            for (off, c) in [(0, &part[..half]), (half, &part[half..])] {
                assert_eq!(
                    app.tus_patch("alice", &url, off, c.to_vec(), true).await.status(),
                    StatusCode::NO_CONTENT
                );
            }
            url
        }
    });
    let urls = futures::future::join_all(uploads).await;
    let md = format!("task_id {},slice_index {}", b64(&task), b64("0"));
    let r = app
        .tus(Method::POST, &app.url("/localrecord/v1/uploads/"), "alice")
        .header("upload-concat", format!("final;{}", urls.join(" ")))
        .header("upload-metadata", md)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    let final_url = location(&r);
    let head = app.tus(Method::HEAD, &final_url, "alice").send().await.unwrap();
    assert_eq!(head.headers()["upload-offset"], data.len().to_string().as_str());
    assert!(head.headers()["upload-concat"].to_str().unwrap().starts_with("final;"));
    assert_eq!(app.stored_slice(&task, 0).await.unwrap(), data);
    assert_eq!(
        app.task_status("alice", &task).await["Slices"][0]["Md5"],
        md5_hex(&data)
    );
    for u in &urls {
        let r = app.tus(Method::HEAD, u, "alice").send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::NOT_FOUND,
            "partial uploads are freed once joined"
        );
    }
    no_parts_left(&app).await;
}

pub async fn scenario_reupload_is_idempotent(kind: StoreKind) {
    let app = spawn_app_on(kind).await;
    let task = app.create_task("alice", 1).await;
    let data = bytes(500_000, 1);
    app.upload_slice("alice", &task, 0, &data, 200_000).await;
    let first = localrecord::db::slices::get(&app.state.db, &task, 0)
        .await
        .unwrap()
        .unwrap();

    // The same bytes again (a recorder that lost the answer): accepted, nothing changes.
    app.upload_slice("alice", &task, 0, &data, 500_000).await;
    let again = localrecord::db::slices::get(&app.state.db, &task, 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, first);

    // Other bytes of the same length: refused at the end, the stored slice is kept.
    let other = bytes(500_000, 2);
    let url = location(&app.tus_create("alice", &task, 0, other.len()).await);
    let r = app.tus_patch("alice", &url, 0, other, true).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(error_of(r).await.1.contains("already stored"));
    // Another length: refused up front.
    let r = app.tus_create("alice", &task, 0, 10).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(app.stored_slice(&task, 0).await.unwrap(), data);
    let slices = app.state.store.list(&format!("slices/{task}/")).await.unwrap();
    assert_eq!(
        slices,
        vec![first.object_key.clone()],
        "exactly one stored object for the slice"
    );
    no_parts_left(&app).await;
}

#[tokio::test]
async fn chunked_upload_with_md5_fs() {
    scenario_chunked_upload_with_md5(StoreKind::Fs).await;
}
#[tokio::test]
async fn corrupted_chunk_is_rejected_fs() {
    scenario_corrupted_chunk_is_rejected(StoreKind::Fs).await;
}
#[tokio::test]
async fn interrupted_mid_chunk_then_resumed_fs() {
    scenario_interrupted_mid_chunk_then_resumed(StoreKind::Fs).await;
}
#[tokio::test]
async fn parallel_partial_uploads_concatenated_fs() {
    scenario_parallel_partial_uploads_concatenated(StoreKind::Fs).await;
}
#[tokio::test]
async fn reupload_is_idempotent_fs() {
    scenario_reupload_is_idempotent(StoreKind::Fs).await;
}

#[tokio::test]
async fn options_advertises_the_extensions() {
    let app = spawn_app_with(StoreKind::Fs, |s| s.upload.max_size = 12345).await;
    let r = app
        .client
        .request(Method::OPTIONS, app.url("/localrecord/v1/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let h = r.headers();
    assert_eq!(h["tus-version"], "1.0.0");
    assert_eq!(h["tus-max-size"], "12345");
    assert_eq!(h["tus-checksum-algorithm"], "md5,sha1");
    let ext = h["tus-extension"].to_str().unwrap();
    for e in [
        "creation",
        "creation-with-upload",
        "expiration",
        "checksum",
        "termination",
        "concatenation",
    ] {
        assert!(ext.split(',').any(|x| x == e), "{e} in {ext}");
    }
}

#[tokio::test]
async fn creation_with_upload_and_empty_slices() {
    let app = spawn_app().await;
    let task = app.create_task("alice", 1).await;
    let data = bytes(4000, 8);
    let md = format!("task_id {},slice_index {}", b64(&task), b64("0"));
    let r = app
        .tus(Method::POST, &app.url("/localrecord/v1/uploads"), "alice")
        .header("upload-length", "4000")
        .header("upload-metadata", md)
        .header("content-type", "application/offset+octet-stream")
        .header("upload-checksum", format!("md5 {}", md5_b64(&data)))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["upload-offset"], "4000");
    assert!(r.headers().contains_key("upload-expires"));
    assert_eq!(app.stored_slice(&task, 0).await.unwrap(), data);

    // A zero-byte slice (a crash right after a cut) is stored as what it is.
    let r = app.tus_create("alice", &task, 1, 0).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.stored_slice(&task, 1).await.unwrap(), Vec::<u8>::new());
    assert_eq!(app.task_status("alice", &task).await["Slices"][1]["Md5"], md5_hex(b""));
}

#[tokio::test]
async fn protocol_errors_are_clear_and_store_nothing() {
    let app = spawn_app_with(StoreKind::Fs, |s| s.upload.max_size = 1_000_000).await;
    let task = app.create_task("alice", 1).await;
    let url = location(&app.tus_create("alice", &task, 0, 1000).await);
    let patch = |offset: &str, ctype: &str, body: Vec<u8>| {
        app.tus(Method::PATCH, &url, "alice")
            .header("content-type", ctype.to_owned())
            .header("upload-offset", offset.to_owned())
            .body(body)
    };
    let cases = vec![
        (
            "offset mismatch",
            patch("10", "application/offset+octet-stream", vec![1; 10]),
            409,
        ),
        (
            "chunk passes Upload-Length",
            patch("0", "application/offset+octet-stream", vec![1; 1001]),
            413,
        ),
        ("wrong content type", patch("0", "application/json", vec![1; 10]), 415),
        (
            "negative offset",
            patch("-1", "application/offset+octet-stream", vec![1; 10]),
            400,
        ),
        (
            "unknown checksum algorithm",
            patch("0", "application/offset+octet-stream", vec![1; 10]).header("upload-checksum", "crc32 AAAA"),
            400,
        ),
        (
            "no Tus-Resumable",
            app.client
                .patch(&url)
                .header("authorization", app.auth("alice"))
                .header("content-type", "application/offset+octet-stream")
                .header("upload-offset", "0")
                .body(vec![1; 10]),
            412,
        ),
        (
            "another user's upload",
            app.tus(Method::PATCH, &url, "bob")
                .header("content-type", "application/offset+octet-stream")
                .header("upload-offset", "0")
                .body(vec![1; 10]),
            403,
        ),
        (
            "no such upload",
            app.tus(
                Method::HEAD,
                &app.url("/localrecord/v1/uploads/9a7c1d36-7a43-4b4e-9b8e-0b3c6c9f0000"),
                "alice",
            ),
            404,
        ),
    ];
    for (name, req, status) in cases {
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{name}");
        assert_eq!(r.headers()["tus-resumable"], "1.0.0", "{name}");
    }
    assert_eq!(
        app.tus_offset("alice", &url).await,
        0,
        "nothing was stored by any of those"
    );
    no_parts_left(&app).await;

    let other = app.create_task("bob", 2).await;
    let create = |md: String, len: &str| {
        app.tus(Method::POST, &app.url("/localrecord/v1/uploads/"), "alice")
            .header("upload-length", len.to_owned())
            .header("upload-metadata", md)
    };
    let cases = vec![
        (
            "over max size",
            create(format!("task_id {},slice_index {}", b64(&task), b64("1")), "1000001"),
            413,
            codes::TOO_LARGE,
        ),
        (
            "no Upload-Length",
            app.tus(Method::POST, &app.url("/localrecord/v1/uploads/"), "alice")
                .header(
                    "upload-metadata",
                    format!("task_id {},slice_index {}", b64(&task), b64("1")),
                ),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "no metadata",
            create(String::new(), "10"),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "missing task_id",
            create(format!("slice_index {}", b64("1")), "10"),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "negative index",
            create(format!("task_id {},slice_index {}", b64(&task), b64("-1")), "10"),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "index not a number",
            create(format!("task_id {},slice_index {}", b64(&task), b64("one")), "10"),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "path in filename",
            create(
                format!(
                    "task_id {},slice_index {},filename {}",
                    b64(&task),
                    b64("1"),
                    b64("../../etc/passwd")
                ),
                "10",
            ),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "path in task_id",
            create(format!("task_id {},slice_index {}", b64("../x"), b64("1")), "10"),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "metadata not base64",
            create("task_id %%%,slice_index MQ==".into(), "10"),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "unknown task",
            create(
                format!("task_id {},slice_index {}", b64("1400000001-1-ffff"), b64("1")),
                "10",
            ),
            404,
            codes::NOT_FOUND,
        ),
        (
            "another user's task",
            create(format!("task_id {},slice_index {}", b64(&other), b64("0")), "10"),
            403,
            codes::FORBIDDEN,
        ),
        (
            "negative length",
            create(format!("task_id {},slice_index {}", b64(&task), b64("1")), "-5"),
            400,
            codes::INVALID_PARAMETER,
        ),
    ];
    for (name, req, status, code) in cases {
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{name}");
        assert_eq!(error_of(r).await.0, code, "{name}");
    }
    let n: (i64,) = sqlx::query_as("SELECT count(*) FROM uploads")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(n.0, 1, "no upload was created by a refused request");
}

#[tokio::test]
async fn termination_frees_the_upload() {
    let app = spawn_app().await;
    let task = app.create_task("alice", 1).await;
    let url = location(&app.tus_create("alice", &task, 0, 1000).await);
    assert_eq!(
        app.tus_patch("alice", &url, 0, bytes(400, 1), true).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.state.store.list("uploads/").await.unwrap().len(), 1);
    let r = app.tus(Method::DELETE, &url, "alice").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.tus(Method::HEAD, &url, "alice").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    no_parts_left(&app).await;
    assert_eq!(app.task_status("alice", &task).await["Slices"], json!([]));
}

#[tokio::test]
async fn abandoned_uploads_expire_and_their_bytes_are_deleted() {
    let app = spawn_app_with(StoreKind::Fs, |s| s.upload.expiry_secs = 1).await;
    let task = app.create_task("alice", 1).await;
    let url = location(&app.tus_create("alice", &task, 0, 1000).await);
    assert_eq!(
        app.tus_patch("alice", &url, 0, bytes(400, 1), true).await.status(),
        StatusCode::NO_CONTENT
    );
    // A part written by an instance that crashed before committing it: an object with no row.
    let orphan = format!("uploads/{}/00000000000000000000-dead", uuid::Uuid::new_v4());
    let mut w = app.state.store.writer(&orphan).await.unwrap();
    w.write(vec![1u8; 10]).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(app.state.store.list("uploads/").await.unwrap().len(), 2);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = app.tus(Method::HEAD, &url, "alice").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    let report = localrecord::ingest::sweep::sweep(&app.state.ingest).await.unwrap();
    assert_eq!((report.expired, report.orphans), (1, 1));
    no_parts_left(&app).await;
    let r = app.tus(Method::HEAD, &url, "alice").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

fn upload_id(url: &str) -> uuid::Uuid {
    url.rsplit('/').next().unwrap().parse().unwrap()
}

async fn part_rows(app: &TestApp, id: uuid::Uuid) -> i64 {
    let n: (i64,) = sqlx::query_as("SELECT count(*) FROM upload_parts WHERE upload_id = $1")
        .bind(id)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    n.0
}

/// fs: the chunks of an upload go into one file (no part objects, no part rows) with the running
/// MD5 in Postgres; the slice is that file renamed, with the MD5 of every byte.
#[tokio::test]
async fn fs_chunks_append_to_one_file_that_becomes_the_slice() {
    let app = spawn_app().await;
    let task = app.create_task("alice", 1).await;
    let chunk = 4 * 1024 * 1024;
    let data = bytes(2 * chunk + 777_777, 11);
    let url = location(&app.tus_create("alice", &task, 0, data.len()).await);
    let id = upload_id(&url);
    for i in 0..2 {
        let c = data[i * chunk..(i + 1) * chunk].to_vec();
        let r = app.tus_patch("alice", &url, i * chunk, c, true).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.text().await);
    }
    assert_eq!(
        app.state.store.list("uploads/").await.unwrap(),
        vec![localrecord::store::keys::upload_append(id)],
        "one file per upload"
    );
    assert_eq!(part_rows(&app, id).await, 0);
    let st = localrecord::db::uploads::append_state(&app.state.db, id)
        .await
        .unwrap()
        .unwrap();
    assert!(st.append && st.offset == 2 * chunk as i64);
    let running = localrecord::ingest::checksum::RunningMd5::resume(st.md5_state.as_deref()).unwrap();
    assert_eq!(
        running.hex(),
        md5_hex(&data[..2 * chunk]),
        "the MD5 of the committed bytes"
    );

    let r = app
        .tus_patch("alice", &url, 2 * chunk, data[2 * chunk..].to_vec(), true)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let slice = localrecord::db::slices::get(&app.state.db, &task, 0)
        .await
        .unwrap()
        .unwrap();
    assert!(
        slice.object_key.ends_with(&format!("-{}.flv", id.simple())),
        "the append file was moved into place, not copied: {}",
        slice.object_key
    );
    assert_eq!(slice.md5, md5_hex(&data));
    assert_eq!(app.stored_slice(&task, 0).await.unwrap(), data);
    no_parts_left(&app).await;
}

/// fs: bytes a crashed PATCH left past the committed offset (written, never committed) are not part
/// of the upload: HEAD does not count them and the next PATCH cuts them off.
#[tokio::test]
async fn fs_bytes_past_the_committed_offset_are_cut_by_the_next_patch() {
    let app = spawn_app().await;
    let task = app.create_task("alice", 1).await;
    let data = bytes(2_500_000, 12);
    let url = location(&app.tus_create("alice", &task, 0, data.len()).await);
    let r = app.tus_patch("alice", &url, 0, data[..1_000_000].to_vec(), true).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // What an instance killed between its write and its commit leaves behind.
    let path = app.state.store.append_path(upload_id(&url)).unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, &vec![0xAB; 300_000]).unwrap();
    drop(f);
    assert_eq!(app.tus_offset("alice", &url).await, 1_000_000);

    let r = app
        .tus_patch("alice", &url, 1_000_000, data[1_000_000..].to_vec(), true)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.stored_slice(&task, 0).await.unwrap(), data);
    assert_eq!(
        app.task_status("alice", &task).await["Slices"][0]["Md5"],
        md5_hex(&data)
    );
}

/// fs: while another request holds an upload's file (a dead connection not yet noticed, on this
/// instance or another), a PATCH neither writes into it nor waits forever; once it is free, the
/// upload goes on.
#[tokio::test]
async fn fs_a_patch_does_not_write_while_another_holds_the_upload() {
    let app = spawn_app().await;
    let task = app.create_task("alice", 1).await;
    let data = bytes(600_000, 13);
    let url = location(&app.tus_create("alice", &task, 0, data.len()).await);
    let r = app.tus_patch("alice", &url, 0, data[..200_000].to_vec(), true).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let path = app.state.store.append_path(upload_id(&url)).unwrap();
    let held = match localrecord::store::append::AppendFile::open_locked(&path, false, Duration::ZERO)
        .await
        .unwrap()
    {
        localrecord::store::append::Opened::Locked(f) => f,
        _ => panic!("the file is free and present"),
    };
    let r = app
        .tus_patch("alice", &url, 200_000, data[200_000..].to_vec(), true)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(app.tus_offset("alice", &url).await, 200_000);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 200_000, "nothing written");
    drop(held);
    let r = app
        .tus_patch("alice", &url, 200_000, data[200_000..].to_vec(), true)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.stored_slice(&task, 0).await.unwrap(), data);
}

/// fs: the append file is synced every 64 MiB and at the last byte, not at every PATCH. Bytes
/// committed past the last sync in another boot (an OS crash may have lost them) are given back: a
/// PATCH at the old offset gets 409, HEAD reports the synced offset, and the upload goes on from
/// there to the right bytes and MD5.
#[tokio::test]
async fn fs_unsynced_bytes_from_another_boot_are_given_back() {
    let app = spawn_app().await;
    let task = app.create_task("alice", 1).await;
    let data = bytes(3_000_000, 14);
    let url = location(&app.tus_create("alice", &task, 0, data.len()).await);
    let id = upload_id(&url);
    let r = app.tus_patch("alice", &url, 0, data[..1_000_000].to_vec(), true).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // As if the file had been synced here (a small upload reaches no 64 MiB sync point).
    sqlx::query("UPDATE uploads SET synced_offset = \"offset\", synced_md5_state = md5_state WHERE id = $1")
        .bind(id)
        .execute(&app.state.db)
        .await
        .unwrap();
    let r = app
        .tus_patch("alice", &url, 1_000_000, data[1_000_000..2_000_000].to_vec(), true)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let st = localrecord::db::uploads::append_state(&app.state.db, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (st.offset, st.synced_offset),
        (2_000_000, 1_000_000),
        "not synced per PATCH"
    );
    assert!(
        !st.unsafe_tail(localrecord::store::append::boot_id()),
        "same boot: nothing to give back"
    );

    // The host restarts: the unsynced bytes were committed in another boot.
    sqlx::query("UPDATE uploads SET write_boot = 'a-boot-before-an-os-crash' WHERE id = $1")
        .bind(id)
        .execute(&app.state.db)
        .await
        .unwrap();
    let r = app
        .tus_patch("alice", &url, 2_000_000, data[2_000_000..].to_vec(), true)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(app.tus_offset("alice", &url).await, 1_000_000);
    let path = app.state.store.append_path(id).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1_000_000);

    let r = app
        .tus_patch("alice", &url, 1_000_000, data[1_000_000..].to_vec(), true)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.stored_slice(&task, 0).await.unwrap(), data);
    assert_eq!(
        app.task_status("alice", &task).await["Slices"][0]["Md5"],
        md5_hex(&data)
    );

    // A HEAD on an upload with nothing unsafe changes nothing.
    let url2 = location(&app.tus_create("alice", &task, 1, 10).await);
    let r = app.tus_patch("alice", &url2, 0, vec![1; 4], true).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.tus_offset("alice", &url2).await, 4);
}
