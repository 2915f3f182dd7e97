//! The recorder's upload client (crate localrecord-client) against the real server: chunked,
//! checksummed, journaled, and resumed after the recorder "dies" mid-upload.

use crate::helpers::*;
use localrecord_client::api::{codes, CreateTask};
use localrecord_client::server::{Credentials, Error, ServerClient};
use localrecord_client::upload::{journal::Journal, Options};

fn client(app: &TestApp, user: &str) -> ServerClient {
    ServerClient::new(
        &app.base,
        Credentials {
            sdk_app_id: SDKAPPID as u64,
            user_id: user.into(),
            user_sig: app.usersig(user),
        },
    )
}

#[tokio::test]
async fn the_client_uploads_a_slice_in_checked_chunks_and_verifies_it() {
    let app = spawn_app().await;
    let c = client(&app, "alice");
    assert_eq!(c.auth().await.unwrap().user_id, "alice");
    let task = c
        .create_task(&CreateTask {
            class_id: 1212,
            ..Default::default()
        })
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("0.flv");
    let data = bytes(1_000_000, 3);
    std::fs::write(&file, &data).unwrap();
    let journal = Journal::open(&dir.path().join("journal")).unwrap();
    let opts = Options {
        chunk_size: 256 * 1024,
        ..Default::default()
    };
    let receipt = c.upload_slice(&journal, &task, 0, &file, &opts).await.unwrap();
    assert!(receipt.complete);
    assert_eq!(receipt.md5, md5_hex(&data));
    assert!(
        journal.pending().unwrap().is_empty(),
        "confirmed slices leave the journal"
    );
    assert_eq!(app.stored_slice(&task, 0).await.unwrap(), data);
    let st = c.stop_task(&task, 1).await.unwrap();
    assert_eq!(st.missing_slices, Vec::<i32>::new());
}

#[tokio::test]
async fn an_interrupted_upload_resumes_from_the_journal_after_a_restart() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("0.flv");
    let data = bytes(900_000, 4);
    std::fs::write(&file, &data).unwrap();
    let jdir = dir.path().join("journal");
    let task = client(&app, "alice")
        .create_task(&CreateTask {
            class_id: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    {
        // The recorder sends two chunks and dies.
        let c = client(&app, "alice");
        let opts = Options {
            chunk_size: 200_000,
            stop_after_chunks: Some(2),
            ..Default::default()
        };
        let r = c
            .upload_slice(&Journal::open(&jdir).unwrap(), &task, 0, &file, &opts)
            .await
            .unwrap();
        assert_eq!((r.complete, r.size), (false, 400_000));
    }
    // After the restart: the journal knows the upload; the server says where it stands.
    let journal = Journal::open(&jdir).unwrap();
    let pending = journal.pending().unwrap();
    assert_eq!(pending.len(), 1);
    let url = pending[0].upload_url.clone().expect("the upload URL survived");
    assert_eq!(app.tus_offset("alice", &url).await, 400_000);
    let c = client(&app, "alice");
    let r = c
        .upload_slice(
            &journal,
            &pending[0].task_id,
            pending[0].index,
            &pending[0].path,
            &Options {
                chunk_size: 200_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(r.complete);
    assert_eq!(app.stored_slice(&task, 0).await.unwrap(), data);
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM uploads WHERE task_id = $1")
        .bind(&task)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(n, 1, "resumed the same upload, sent nothing twice");
    assert!(journal.pending().unwrap().is_empty());
}

#[tokio::test]
async fn refusals_come_back_as_the_servers_codes() {
    let app = spawn_app().await;
    let bad = ServerClient::new(
        &app.base,
        Credentials {
            sdk_app_id: SDKAPPID as u64,
            user_id: "alice".into(),
            user_sig: "forged".into(),
        },
    );
    match bad.auth().await {
        Err(Error::Refused { status: 401, code, .. }) => assert_eq!(code, codes::AUTH_FAILED),
        other => panic!("{other:?}"),
    }
    let c = client(&app, "alice");
    match c
        .create_task(&CreateTask {
            class_id: -1,
            ..Default::default()
        })
        .await
    {
        Err(Error::Refused { status: 400, code, .. }) => assert_eq!(code, codes::INVALID_PARAMETER),
        other => panic!("{other:?}"),
    }
}
