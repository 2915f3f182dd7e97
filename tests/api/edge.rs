//! The server's edges under hostile clients: half-sent and idle connections, too many
//! connections, stalled bodies, credential guessing and floods of made-up SdkAppIds.

use crate::helpers::*;
use reqwest::StatusCode;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes (or `secs` pass); returns what it sent, None if it never closed.
async fn read_until_closed(s: &mut TcpStream, secs: u64) -> Option<String> {
    let mut buf = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(secs), s.read_to_end(&mut buf)).await;
    match r {
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn two_thousand_half_sent_requests_neither_block_others_nor_stay_open() {
    let app = spawn_app_with(StoreKind::Fs, |s| s.edge.header_read_timeout_secs = 3).await;
    let mut idle = Vec::new();
    for i in 0..2000 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        if i % 2 == 0 {
            // A request head that never ends (slowloris); the other half send nothing at all.
            s.write_all(b"POST /localrecord/v1/auth HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
        }
        idle.push(s);
    }
    // A legitimate recorder is served meanwhile.
    let t = Instant::now();
    let task = app.create_task("alice", 1).await;
    assert!(task.starts_with(&SDKAPPID.to_string()));
    let r = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    println!("legitimate requests with 2000 idle connections open: {:?}", t.elapsed());
    // And every idle connection is closed by the server once its head is late.
    let mut closed = 0;
    for s in idle.iter_mut() {
        if read_until_closed(s, 30).await.is_some() {
            closed += 1;
        }
    }
    assert_eq!(closed, 2000, "every half-sent or silent connection was closed");
}

#[tokio::test]
async fn connections_beyond_the_limit_get_503_with_retry_after() {
    let app = spawn_app_with(StoreKind::Fs, |s| s.edge.max_connections = 20).await;
    let mut held = Vec::new();
    for _ in 0..20 {
        let s = TcpStream::connect(app.addr).await.unwrap();
        held.push(s);
    }
    // Accepted in order: once the 20 are in, the next one is refused at once, in the API's shape.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = TcpStream::connect(app.addr).await.unwrap();
    let answer = read_until_closed(&mut extra, 10).await.expect("refused and closed");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("Retry-After: 1"), "{answer}");
    assert!(answer.contains("-10012"), "{answer}");
    // A slot frees when a connection ends.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_stalled_patch_body_ends_with_408_and_keeps_what_arrived() {
    let app = spawn_app_with(StoreKind::Fs, |s| s.edge.body_idle_secs = 1).await;
    let task = app.create_task("alice", 2).await;
    let url = location(&app.tus_create("alice", &task, 0, 1000).await);
    let path = url.split_once(&app.addr.to_string()).unwrap().1.to_owned();
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 1000\r\nAuthorization: {}\r\n\r\n",
        app.addr,
        app.auth("alice")
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&bytes(400, 3)).await.unwrap();
    // ...and then nothing.
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("-10011") && answer.contains("Upload-Offset 400"),
        "{answer}"
    );
    assert_eq!(
        app.tus_offset("alice", &url).await,
        400,
        "the bytes that arrived were kept"
    );
}

#[tokio::test]
async fn an_address_guessing_credentials_is_held_back_with_429() {
    let app = spawn_app_with(StoreKind::Fs, |s| s.edge.auth_failures_per_minute = 5).await;
    let bad = format!("UserSig sdkappid={SDKAPPID},identifier=alice,usersig=forged");
    for _ in 0..5 {
        let r = app
            .client
            .post(app.url("/localrecord/v1/auth"))
            .header("authorization", &bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app
        .client
        .post(app.url("/localrecord/v1/auth"))
        .header("authorization", &bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let (code, msg) = error_of(r).await;
    assert_eq!(code, -10012, "{msg}");
}

#[tokio::test]
async fn a_flood_of_unknown_apps_leaves_database_connections_for_real_work() {
    let app = spawn_app_with(StoreKind::Fs, |s| {
        s.db.max_connections = 12;
        s.jobs.enabled = false;
        s.edge.auth_failures_per_minute = 1_000_000;
    })
    .await;
    let flood: Vec<_> = (0..400)
        .map(|i| {
            let (client, url) = (app.client.clone(), app.url("/localrecord/v1/auth"));
            tokio::spawn(async move {
                let h = format!("UserSig sdkappid={},identifier=x,usersig=y", 1_700_000_000 + i);
                client
                    .post(url)
                    .header("authorization", h)
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    let pool = app.state.db.clone();
    let watch = tokio::spawn(async move {
        let mut busiest = 0;
        for _ in 0..100 {
            busiest = busiest.max(pool.size() as usize - pool.num_idle());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        busiest
    });
    // Real work goes on during the flood.
    for class in 1..=5 {
        app.create_task("alice", class).await;
    }
    for f in flood {
        assert_eq!(f.await.unwrap().unwrap(), StatusCode::UNAUTHORIZED);
    }
    let busiest = watch.await.unwrap();
    println!("busiest moment: {busiest} of 12 connections in use");
    // The flood's lookups take at most LOOKUPS at once; with real work and housekeeping (the
    // start-up sweep) the pool is never exhausted, as it was when every request took a connection.
    assert!(busiest < 12, "the flood held {busiest} of 12 connections");
}
