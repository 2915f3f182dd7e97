//! `localrecord app key ...` (issue 14, encrypted recordings): create, rotate, show, export, run as
//! an operator would; key files decrypt what the key they name encrypted, and no key is ever
//! printed, even with every log on.

use crate::helpers::*;
use localrecord_crypt::{EncryptWriter, Key};
use serde_json::Value;
use std::io::Write;

/// Runs `localrecord app key ARGS` with trace logs; (success, stdout JSON or Null, stdout + stderr).
fn key_cli(app: &TestApp, args: &[&str]) -> (bool, Value, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_localrecord"))
        .args(["app", "key"])
        .args(args)
        .env("LOCALRECORD_DATABASE_URL", &app.backing.db_url)
        .env("LOCALRECORD_DATA_DIR", app.backing.data_dir.path())
        .env("RUST_LOG", "trace")
        .env("LOCALRECORD_LOG_FORMAT", "text")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.success(), json, text)
}

fn hex(key: &Key) -> String {
    secrecy::ExposeSecret::expose_secret(&key.to_hex()).to_owned()
}

#[tokio::test]
async fn app_key_commands_create_rotate_show_and_export_without_printing_keys() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let id = SDKAPPID.to_string();
    let first = dir.path().join("first.key");
    let (ok, made, mut printed) = key_cli(&app, &["create", "--sdkappid", &id, "--out", first.to_str().unwrap()]);
    assert!(ok, "{printed}");
    let key1 = Key::read_file(&first).unwrap();
    register_secret(&hex(&key1));
    assert_eq!(made["KeyId"], key1.id().to_string());

    let (ok, _, text) = key_cli(&app, &["create", "--sdkappid", &id]);
    assert!(!ok && text.contains("already has recording key"), "{text}");
    printed += &text;
    let (ok, _, text) = key_cli(&app, &["create", "--sdkappid", "1400009999"]);
    assert!(!ok && text.contains("no app 1400009999"), "{text}");

    let second = dir.path().join("second.key");
    let (ok, rotated, text) = key_cli(&app, &["rotate", "--sdkappid", &id, "--out", second.to_str().unwrap()]);
    assert!(ok, "{text}");
    printed += &text;
    let key2 = Key::read_file(&second).unwrap();
    register_secret(&hex(&key2));
    assert_eq!(rotated["KeyId"], key2.id().to_string());
    assert_eq!(rotated["RetiredKeyId"], key1.id().to_string());

    let (ok, shown, text) = key_cli(&app, &["show", "--sdkappid", &id]);
    assert!(ok, "{text}");
    printed += &text;
    assert_eq!(shown["KeyId"], key2.id().to_string());
    let ids: Vec<&str> = shown["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["KeyId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [key2.id().to_string(), key1.id().to_string()]);

    // The retired key still opens what it encrypted.
    let old = dir.path().join("old.key");
    let k1 = key1.id().to_string();
    let (ok, _, text) = key_cli(
        &app,
        &[
            "export",
            "--sdkappid",
            &id,
            "--key-id",
            &k1,
            "--out",
            old.to_str().unwrap(),
        ],
    );
    assert!(ok, "{text}");
    printed += &text;
    let mut w = EncryptWriter::new(Vec::new(), &key1, 4096).unwrap();
    w.write_all(b"an older recording").unwrap();
    let file = w.finish().unwrap();
    let mut plain = String::new();
    let mut r = localrecord_crypt::DecryptReader::new(&file[..], &Key::read_file(&old).unwrap()).unwrap();
    std::io::Read::read_to_string(&mut r, &mut plain).unwrap();
    assert_eq!(plain, "an older recording");

    let (ok, _, text) = key_cli(&app, &["export", "--sdkappid", &id, "--out", old.to_str().unwrap()]);
    assert!(!ok && text.contains("never overwritten"), "{text}");
    for k in [&key1, &key2] {
        assert!(!printed.contains(&hex(k)), "a key was printed:\n{printed}");
    }
    let audit: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE action LIKE 'recording_key_%' ORDER BY id")
            .fetch_all(&app.state.db)
            .await
            .unwrap();
    assert_eq!(
        audit,
        ["recording_key_create", "recording_key_rotate", "recording_key_export"]
    );
}

/// tus creation of slice 0 with `extra` metadata appended.
async fn create_with(app: &TestApp, task: &str, len: usize, extra: &str) -> reqwest::Response {
    let md = format!("task_id {},slice_index {}{extra}", b64(task), b64("0"));
    app.tus(reqwest::Method::POST, &app.url("/localrecord/v1/uploads/"), "alice")
        .header("upload-length", len.to_string())
        .header("upload-metadata", md)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_encrypted_slice_is_stored_as_it_arrives_if_its_key_is_the_apps() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let kf = dir.path().join("app.key");
    let (ok, _, text) = key_cli(
        &app,
        &[
            "create",
            "--sdkappid",
            &SDKAPPID.to_string(),
            "--out",
            kf.to_str().unwrap(),
        ],
    );
    assert!(ok, "{text}");
    let key = Key::read_file(&kf).unwrap();
    register_secret(&hex(&key));
    let mut w = EncryptWriter::new(Vec::new(), &key, 1024).unwrap();
    w.write_all(&bytes(10_000, 3)).unwrap();
    let sealed = w.finish().unwrap();
    let task = app.create_task("alice", 4101).await;

    let enc = |k: &str| format!(",encryption {},key_id {}", b64("lrcrypt-v1"), b64(k));
    let stranger = Key::generate().id().to_string();
    for (extra, says) in [
        (enc(&stranger), "not one of this app's recording keys"),
        (
            format!(",encryption {},key_id {}", b64("rot13"), b64(&stranger)),
            "not a format",
        ),
        (format!(",encryption {}", b64("lrcrypt-v1")), "go together"),
        (enc("nothex"), "16 hex digits"),
    ] {
        let r = create_with(&app, &task, sealed.len(), &extra).await;
        assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST);
        let (_, msg) = error_of(r).await;
        assert!(msg.contains(says), "{msg}");
    }
    let r = create_with(&app, &task, sealed.len(), &enc(&key.id().to_string())).await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let url = location(&r);
    let r = app.tus_patch("alice", &url, 0, sealed.clone(), true).await;
    assert_eq!(r.status(), reqwest::StatusCode::NO_CONTENT);
    assert_eq!(
        app.stored_slice(&task, 0).await.unwrap(),
        sealed,
        "stored as it arrived"
    );
}
