//! Two server instances over one Postgres and one store: an upload begun on one finishes on the other.

use crate::helpers::*;
use crate::tus::{cut_patch, wait_for_offset};
use reqwest::StatusCode;

async fn scenario(kind: StoreKind) {
    let a = spawn_app_on(kind).await;
    let b = spawn_instance(&a).await;
    assert_ne!(a.addr, b.addr);
    let task = a.create_task("alice", 1).await;
    let data = bytes(3_000_000, 4);
    let url_a = location(&a.tus_create("alice", &task, 0, data.len()).await);
    // Instance A takes the first chunk, and is cut off in the middle of the second.
    assert_eq!(
        a.tus_patch("alice", &url_a, 0, data[..1_000_000].to_vec(), true)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    cut_patch(&a, &url_a, 1_000_000, &data[1_000_000..1_500_000], 2_000_000).await;
    wait_for_offset(&a, &url_a, 1_500_000).await;
    // The recorder reconnects to instance B with the same upload URL path.
    let url_b = url_a.replace(&a.addr.to_string(), &b.addr.to_string());
    assert_eq!(b.tus_offset("alice", &url_b).await, 1_500_000);
    assert_eq!(
        b.tus_patch("alice", &url_b, 1_500_000, data[1_500_000..].to_vec(), true)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(a.tus_offset("alice", &url_a).await, data.len() as i64);
    assert_eq!(a.stored_slice(&task, 0).await.unwrap(), data);
    assert_eq!(b.task_status("alice", &task).await["Slices"][0]["Md5"], md5_hex(&data));
}

#[tokio::test]
async fn upload_begun_on_one_instance_finishes_on_another_fs() {
    scenario(StoreKind::Fs).await;
}

#[tokio::test]
async fn upload_begun_on_one_instance_finishes_on_another_s3() {
    scenario(StoreKind::S3).await;
}
