//! UserSig through the real server: tokens from Tencent's official libraries, hand-made layouts the
//! other official libraries produce, and every way a token can be wrong.

use crate::helpers::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use localrecord_client::api::codes;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

/// Token from an arbitrary JSON text, signed independently of the server's code.
fn token_from_json(json_text: &str, level: flate2::Compression) -> String {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), level);
    std::io::Write::write_all(&mut z, json_text.as_bytes()).unwrap();
    STANDARD
        .encode(z.finish().unwrap())
        .replace('+', "*")
        .replace('/', "-")
        .replace('=', "_")
}

fn sig(key: &str, id: &str, appid: i64, time: i64, expire: i64) -> String {
    let content = format!("TLS.identifier:{id}\nTLS.sdkappid:{appid}\nTLS.time:{time}\nTLS.expire:{expire}\n");
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(content.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

async fn auth_with(app: &TestApp, id: &str, token: &str) -> reqwest::Response {
    // The seed's query-parameter form, percent-encoded as a browser would.
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("sdkappid", &SDKAPPID.to_string())
        .append_pair("identifier", id)
        .append_pair("usersig", token)
        .finish();
    app.client
        .post(app.url(&format!("/localrecord/v1/auth?{q}")))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn tokens_from_the_official_libraries_are_accepted() {
    let fixtures: Value = serde_json::from_str(include_str!("fixtures/usersig_official.json")).unwrap();
    let key = fixtures["key"].as_str().unwrap();
    let app = spawn_app().await;
    sqlx::query("UPDATE apps SET secret_key = $1")
        .bind(key)
        .execute(&app.state.db)
        .await
        .unwrap();
    let tokens = fixtures["tokens"].as_array().unwrap();
    assert!(tokens.len() >= 6);
    for t in tokens {
        let (id, token) = (t["identifier"].as_str().unwrap(), t["token"].as_str().unwrap());
        let r = auth_with(&app, id, token).await;
        assert_eq!(r.status(), StatusCode::OK, "{}: {:?}", t["library"], r.text().await);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["Response"]["UserId"], id);
        assert_eq!(v["Response"]["SdkAppId"], SDKAPPID);
        // Another identifier with the same token is someone else.
        let r = auth_with(&app, "mallory", token).await;
        assert_eq!(error_of(r).await.0, codes::AUTH_FAILED, "{}", t["library"]);
    }
}

#[tokio::test]
async fn other_json_layouts_and_a_stored_zlib_block_are_accepted() {
    let app = spawn_app().await;
    let key = app.keys.secret_key.clone();
    let now = localrecord::auth::now();
    let s = sig(&key, "alice", SDKAPPID, now, 600);
    let layouts = [
        // Java (org.json): any key order, sdkappid first
        format!(r#"{{"TLS.sdkappid":{SDKAPPID},"TLS.sig":"{s}","TLS.expire":600,"TLS.time":{now},"TLS.identifier":"alice","TLS.ver":"2.0"}}"#),
        // PHP/Go: escaped slashes in the signature, numbers as strings, trailing newline
        format!("{{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"alice\",\"TLS.sdkappid\":\"{SDKAPPID}\",\"TLS.expire\":\"600\",\"TLS.time\":\"{now}\",\"TLS.sig\":\"{}\"}}\n", s.replace('/', "\\/")),
        // pretty-printed with \u escapes in the identifier
        format!("{{\n  \"TLS.ver\" : \"2.0\",\n  \"TLS.identifier\" : \"\\u0061lice\",\n  \"TLS.sdkappid\" : {SDKAPPID},\n  \"TLS.expire\" : 600,\n  \"TLS.time\" : {now},\n  \"TLS.sig\" : \"{s}\"\n}}"),
    ];
    for (i, doc) in layouts.iter().enumerate() {
        for level in [flate2::Compression::default(), flate2::Compression::none()] {
            let r = auth_with(&app, "alice", &token_from_json(doc, level)).await;
            assert_eq!(
                r.status(),
                StatusCode::OK,
                "layout {i} at {level:?}: {:?}",
                r.text().await
            );
        }
    }
    // No TLS.expire means 0: valid only in the second it was made, so an older one is expired.
    let s0 = sig(&key, "alice", SDKAPPID, now - 5, 0);
    let doc = format!(
        r#"{{"TLS.ver":"2.0","TLS.identifier":"alice","TLS.sdkappid":{SDKAPPID},"TLS.time":{},"TLS.sig":"{s0}"}}"#,
        now - 5
    );
    let (code, msg) =
        error_of(auth_with(&app, "alice", &token_from_json(&doc, flate2::Compression::default())).await).await;
    assert_eq!(code, codes::AUTH_FAILED);
    assert!(msg.contains("expired"), "{msg}");
}

#[tokio::test]
async fn bad_tokens_are_refused_with_auth_failed() {
    let app = spawn_app().await;
    let key = app.keys.secret_key.clone();
    let now = localrecord::auth::now();
    let expired = localrecord::auth::usersig::generate(SDKAPPID as u64, &key, "alice", 60, now - 61, None);
    let wrong_key =
        localrecord::auth::usersig::generate(SDKAPPID as u64, "0123456789abcdef0123", "alice", 600, now, None);
    // Forged: a real token's JSON with the expiry raised and the old signature kept.
    let s = sig(&key, "alice", SDKAPPID, now, 60);
    let forged = token_from_json(
        &format!(
            r#"{{"TLS.ver":"2.0","TLS.identifier":"alice","TLS.sdkappid":{SDKAPPID},"TLS.expire":999999,"TLS.time":{now},"TLS.sig":"{s}"}}"#
        ),
        flate2::Compression::default(),
    );
    let other_app = localrecord::auth::usersig::generate(1400000002, &key, "alice", 600, now, None);
    for (name, token, want) in [
        ("expired", expired, "expired"),
        ("wrong key", wrong_key, "signature"),
        ("forged", forged, "signature"),
        ("other app", other_app, "SdkAppId"),
        ("garbage", "not-a-token".to_owned(), "UserSig"),
    ] {
        let r = auth_with(&app, "alice", &token).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name}");
        let (code, msg) = error_of(r).await;
        assert_eq!(code, codes::AUTH_FAILED, "{name}");
        assert!(msg.contains(want), "{name}: {msg}");
    }

    // Unknown app, missing credentials, malformed header.
    let r = app
        .client
        .post(app.url("/localrecord/v1/auth?sdkappid=1499999999&identifier=alice&usersig=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (codes::AUTH_FAILED, "unknown SdkAppId 1499999999".into())
    );
    let r = app.client.post(app.url("/localrecord/v1/auth")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(error_of(r).await.1.contains("missing credentials"));
    let r = app
        .client
        .post(app.url("/localrecord/v1/auth"))
        .header("authorization", "Bearer abc")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, codes::AUTH_FAILED);
}

#[tokio::test]
async fn header_form_works_and_a_disabled_app_is_forbidden() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/localrecord/v1/auth"))
        .header("authorization", app.auth("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["Response"]["UserId"], "alice");
    assert!(v["Response"]["ExpireTime"].as_i64().unwrap() > localrecord::auth::now());

    localrecord::db::apps::set_local_record_enabled(&app.state.db, SDKAPPID, false)
        .await
        .unwrap();
    // Apps are cached on the auth path for AppCache::TTL: the change shows within that.
    let since = std::time::Instant::now();
    let r = loop {
        let r = app
            .client
            .post(app.url("/localrecord/v1/auth"))
            .header("authorization", app.auth("alice"))
            .send()
            .await
            .unwrap();
        if r.status() != StatusCode::OK {
            break r;
        }
        assert!(
            since.elapsed() < localrecord::db::apps::AppCache::TTL * 3,
            "still allowed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (code, msg) = error_of(r).await;
    assert_eq!(code, codes::FORBIDDEN);
    assert!(msg.contains("not enabled"), "{msg}");
}
