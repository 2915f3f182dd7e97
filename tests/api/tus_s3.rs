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
