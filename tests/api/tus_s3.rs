//! The tus scenarios against a real S3 server (s3s-fs, SigV4 checked), multipart under the hood.

use crate::helpers::StoreKind;
use crate::tus::*;

#[tokio::test]
async fn chunked_upload_with_md5_s3() {
    scenario_chunked_upload_with_md5(StoreKind::S3).await;
}
#[tokio::test]
async fn corrupted_chunk_is_rejected_s3() {
    scenario_corrupted_chunk_is_rejected(StoreKind::S3).await;
}
#[tokio::test]
async fn interrupted_mid_chunk_then_resumed_s3() {
    scenario_interrupted_mid_chunk_then_resumed(StoreKind::S3).await;
}
#[tokio::test]
async fn parallel_partial_uploads_concatenated_s3() {
    scenario_parallel_partial_uploads_concatenated(StoreKind::S3).await;
}
#[tokio::test]
async fn reupload_is_idempotent_s3() {
    scenario_reupload_is_idempotent(StoreKind::S3).await;
}

#[tokio::test]
async fn wrong_s3_credentials_stop_the_server_at_start() {
    let backing = crate::helpers::Backing::new(StoreKind::S3).await;
    let mut settings = backing.settings();
    settings.store.secret_access_key = Some("not-the-secret".into());
    let err = localrecord::startup::Application::build(settings)
        .await
        .err()
        .expect("bad credentials are refused");
    assert!(format!("{err:#}").contains("not writable"), "{err:#}");
}

/// On S3 an upload goes into one S3 multipart upload: chunks under S3's 5 MiB minimum part (the
/// recorder's 4 MiB) are kept as part objects, and once 5 MiB are in they are sent as one part (in
/// the background of the chunk's request); the last byte completes it at the slice's key with the
/// MD5 carried along, so the slice is never assembled by a copy. The part objects stay until then.
#[tokio::test]
async fn chunks_go_into_one_multipart_upload_that_the_last_byte_completes_s3() {
    use crate::helpers::*;
    let app = spawn_app_on(StoreKind::S3).await;
    let task = app.create_task("alice", 77).await;
    let data = pattern(13 << 20);
    let (url, id) = create(&app, &task, data.len()).await;
    let mib = 1 << 20;
    let mut at = 0;
    for (end, want) in [
        (4 * mib, (1, None)),
        (8 * mib, (2, Some((8 * mib as i64, 1)))),
        (12 * mib, (3, Some((8 * mib as i64, 1)))),
    ] {
        let r = app.tus_patch("alice", &url, at, data[at..end].to_vec(), true).await;
        assert_eq!(r.status(), reqwest::StatusCode::NO_CONTENT);
        at = end;
        wait_for_state(&app, id, want, end).await;
    }
    let mp_key: String = sqlx::query_scalar("SELECT object_key FROM upload_multipart WHERE upload_id = $1")
        .bind(id)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    let r = app.tus_patch("alice", &url, at, data[at..].to_vec(), true).await;
    assert_eq!(r.status(), reqwest::StatusCode::NO_CONTENT);
    assert_eq!(mp_state(&app, id).await, (0, None), "completed and forgotten");
    let key = assert_slice_holds(&app, &task, &data, id).await;
    assert_eq!(key, mp_key, "the multipart upload became the slice: no assembly copy");
}

/// The multipart upload is an optimisation: when it is gone at the finish (aborted by someone, a
/// lifecycle rule, a backend that lost it), the part objects, kept until then, are assembled
/// instead and the slice is stored whole.
#[tokio::test]
async fn a_lost_multipart_upload_falls_back_to_the_kept_parts_s3() {
    use crate::helpers::*;
    let app = spawn_app_on(StoreKind::S3).await;
    let task = app.create_task("alice", 78).await;
    let data = pattern(9 << 20);
    let (url, id) = create(&app, &task, data.len()).await;
    let mib = 1 << 20;
    for (from, to) in [(0, 4 * mib), (4 * mib, 8 * mib)] {
        let r = app.tus_patch("alice", &url, from, data[from..to].to_vec(), true).await;
        assert_eq!(r.status(), reqwest::StatusCode::NO_CONTENT);
    }
    wait_for_state(&app, id, (2, Some((8 * mib as i64, 1))), 8 * mib).await;
    let (key, mp_id): (String, String) =
        sqlx::query_as("SELECT object_key, mp_id FROM upload_multipart WHERE upload_id = $1")
            .bind(id)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    let mp = app.state.store.multipart().expect("S3 has multipart");
    mp.abort(&localrecord::store::multipart::Upload {
        key: key.clone(),
        id: mp_id,
    })
    .await
    .expect("aborted behind the server's back");
    let r = app
        .tus_patch("alice", &url, 8 * mib, data[8 * mib..].to_vec(), true)
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::NO_CONTENT);
    assert_eq!(mp_state(&app, id).await, (0, None), "abandoned and forgotten");
    let stored = assert_slice_holds(&app, &task, &data, id).await;
    assert_ne!(stored, key, "assembled from the kept parts, not completed");
}

fn pattern(len: u32) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect()
}

async fn create(app: &crate::helpers::TestApp, task: &str, len: usize) -> (String, uuid::Uuid) {
    let r = app.tus_create("alice", task, 0, len).await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let url = crate::helpers::location(&r);
    let id = url.rsplit('/').next().unwrap().parse().unwrap();
    (url, id)
}

/// (part objects kept, (bytes sent, parts sent) of the multipart upload).
async fn mp_state(app: &crate::helpers::TestApp, id: uuid::Uuid) -> (i64, Option<(i64, i64)>) {
    let staged: i64 = sqlx::query_scalar("SELECT count(*) FROM upload_parts WHERE upload_id = $1")
        .bind(id)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    let sent: Option<(i64, i64)> =
        sqlx::query_as("SELECT sent, jsonb_array_length(parts)::bigint FROM upload_multipart WHERE upload_id = $1")
            .bind(id)
            .fetch_optional(&app.state.db)
            .await
            .unwrap();
    (staged, sent)
}

/// Parts are sent in the background of the chunk's request: wait (boundedly) for it.
async fn wait_for_state(app: &crate::helpers::TestApp, id: uuid::Uuid, want: (i64, Option<(i64, i64)>), end: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let got = mp_state(app, id).await;
        if got == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after {end} bytes: {got:?}, want {want:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The slice's object key, once checked.
async fn assert_slice_holds(app: &crate::helpers::TestApp, task: &str, data: &[u8], id: uuid::Uuid) -> String {
    let (key, md5): (String, String) =
        sqlx::query_as("SELECT object_key, md5 FROM slices WHERE task_id = $1 AND slice_index = 0")
            .bind(task)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(md5, hex::encode(<md5::Md5 as md5::Digest>::digest(data)));
    let stored = app.state.store.list(&key).await.unwrap();
    assert_eq!(stored, vec![key.clone()]);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("slice");
    app.state.store.download(&key, &copy, &|_| {}).await.unwrap();
    assert!(
        std::fs::read(&copy).unwrap() == data,
        "the slice holds the uploaded bytes"
    );
    let left = app.state.store.list(&format!("uploads/{id}/")).await.unwrap();
    assert!(left.is_empty(), "no part object is left: {left:?}");
    key
}
