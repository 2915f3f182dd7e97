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
/// recorder's 4 MiB) are kept as part objects until 5 MiB are in, then sent as one part and
/// dropped; the last byte completes it at the slice's key with the MD5 carried along, so the
/// slice is never assembled by a copy.
#[tokio::test]
async fn chunks_go_into_one_multipart_upload_that_the_last_byte_completes_s3() {
    use crate::helpers::*;
    let app = spawn_app_on(StoreKind::S3).await;
    let task = app.create_task("alice", 77).await;
    let data: Vec<u8> = (0..(13u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let r = app.tus_create("alice", &task, 0, data.len()).await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let url = location(&r);
    let id: uuid::Uuid = url.rsplit('/').next().unwrap().parse().unwrap();
    let state = || async {
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
    };
    let mib = 1 << 20;
    let mut at = 0;
    for (end, want) in [
        (4 * mib, (1, None)),
        (8 * mib, (0, Some((8 * mib as i64, 1)))),
        (12 * mib, (1, Some((8 * mib as i64, 1)))),
    ] {
        let r = app.tus_patch("alice", &url, at, data[at..end].to_vec(), true).await;
        assert_eq!(r.status(), reqwest::StatusCode::NO_CONTENT);
        at = end;
        assert_eq!(state().await, want, "after {end} bytes");
    }
    let r = app.tus_patch("alice", &url, at, data[at..].to_vec(), true).await;
    assert_eq!(r.status(), reqwest::StatusCode::NO_CONTENT);
    assert_eq!(state().await, (0, None), "completed and forgotten");
    let (key, md5): (String, String) =
        sqlx::query_as("SELECT object_key, md5 FROM slices WHERE task_id = $1 AND slice_index = 0")
            .bind(&task)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(md5, hex::encode(<md5::Md5 as md5::Digest>::digest(&data)));
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
}
