//! Encrypted recordings on the server (issue 14): the recorder's encrypted slices are spliced into
//! an encrypted MP4 with no plaintext on any disk; admins download it decrypted, with Range; a
//! changed byte fails the download; a task never mixes plain and encrypted slices.

use crate::helpers::*;
use crate::media::*;
use crate::recorder_support::*;
use localrecord_crypt::{DecryptReader, EncryptWriter, Key};
use reqwest::StatusCode;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The app's first recording key, created with the CLI (its file in `dir`).
pub fn app_key(app: &TestApp, dir: &Path) -> (Key, PathBuf) {
    let kf = dir.join("app.key");
    app.app_cli(&[
        "key",
        "create",
        "--sdkappid",
        &SDKAPPID.to_string(),
        "--out",
        kf.to_str().unwrap(),
    ]);
    let key = Key::read_file(&kf).unwrap();
    register_secret(secrecy::ExposeSecret::expose_secret(&key.to_hex()));
    (key, kf)
}

/// Records `secs` seconds with the real recorder and `--key-file`, uploads it; the TaskId.
async fn record_encrypted(app: &TestApp, kf: &Path, rec_dir: &Path, secs: u32) -> String {
    let o = tokio::process::Command::new(recorder_bin())
        .args(["--source", "test", "--audio", "tone", "--server", &app.base])
        .arg("--data-dir")
        .arg(rec_dir)
        .arg("--key-file")
        .arg(kf)
        .args(["record", "--sdkappid", &SDKAPPID.to_string(), "--user-id", "alice"])
        .args([
            "--class-id",
            "3103",
            "--duration",
            &format!("{secs}s"),
            "--slice-time",
            "2",
        ])
        .args(["--no-wait"])
        .env("LOCALRECORD_USERSIG", app.usersig("alice"))
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = String::from_utf8_lossy(&o.stdout).lines().next().unwrap().to_owned();
    let task = serde_json::from_str::<Value>(&first).unwrap()["TaskId"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = tokio::process::Command::new(recorder_bin())
        .args(["--server", &app.base])
        .arg("--data-dir")
        .arg(rec_dir)
        .args(["recover", "--wait-secs", "60"])
        .env("LOCALRECORD_USERSIG", app.usersig("alice"))
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    task
}

/// Files under `dir` that are plaintext media: FLV, or MP4 (`ftyp` at offset 4).
fn plaintext_media(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            plaintext_media(&p, found);
            continue;
        }
        let mut head = [0u8; 8];
        let n = std::fs::File::open(&p).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
        if (n >= 4 && head[..4] == *b"FLV\x01") || (n == 8 && head[4..8] == *b"ftyp") {
            found.push(p);
        }
    }
}

pub async fn admin_get(app: &TestApp, task: &str, auth: &str, range: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url(&format!("/localrecord/v1/tasks/{task}/recording.mp4")))
        .header("authorization", auth);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn encrypted_slices_splice_into_an_encrypted_mp4_that_only_the_admin_download_decrypts() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mine = tempfile::tempdir().unwrap();
    let (key, kf) = app_key(&app, mine.path());
    let task = record_encrypted(&app, &kf, &dir.path().join("rec"), 4).await;
    let status = wait_done(&app, &task).await;
    assert_eq!(status["Encrypted"], true, "{status}");
    assert_eq!(status["KeyId"], key.id().to_string());

    // As stored (and as VideoOutputUrl serves it): encrypted, not an MP4 to ffprobe.
    let stored = download_mp4(&app, &status, mine.path()).await;
    let bytes = std::fs::read(&stored).unwrap();
    assert!(localrecord_crypt::is_encrypted(&bytes));
    assert!(!reveals_media(&stored), "ffprobe must not read the stored recording");
    let mut plain = Vec::new();
    DecryptReader::new(&bytes[..], &key)
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    let plain_mp4 = mine.path().join("plain.mp4");
    std::fs::write(&plain_mp4, &plain).unwrap();
    assert!(moov_first(&plain_mp4), "faststart");
    assert_eq!(decode_errors(&plain_mp4), "");
    let codecs = codec_names(&plain_mp4);
    assert_eq!(codecs, ["h264", "aac"], "{codecs:?}");
    let secs = video_secs(&plain_mp4);
    assert!((2.5..=5.5).contains(&secs), "{secs} s of video for 4 s recorded");

    // Nothing decrypted on any disk: the server's data dir (store, scratch), the recorder's.
    let mut found = Vec::new();
    plaintext_media(app.backing.data_dir.path(), &mut found);
    plaintext_media(dir.path(), &mut found);
    assert!(found.is_empty(), "plaintext media on disk: {found:?}");

    // The admin download: the decrypted bytes, whole and by range; audited.
    let admin = app.auth("administrator");
    let r = admin_get(&app, &task, &admin, Some("bytes=0-")).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap(), plain);
    let (a, b) = (plain.len() / 3, plain.len() / 3 + 200_000.min(plain.len() / 2));
    let r = admin_get(&app, &task, &admin, Some(&format!("bytes={a}-{b}"))).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let want = format!("bytes {a}-{b}/{}", plain.len());
    assert_eq!(r.headers()["content-range"], want.as_str());
    assert_eq!(r.bytes().await.unwrap(), plain[a..=b]);
    let r = admin_get(&app, &task, &admin, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().len(), plain.len());
    let (entries, _) = localrecord::db::audit::page(&app.state.db, SDKAPPID, 0, 100)
        .await
        .unwrap();
    let downloads = entries
        .iter()
        .filter(|e| e.action == "download" && e.target == task)
        .count();
    assert_eq!(downloads, 3, "each download is audited");

    // Refusals as for every admin route: a non-admin, and another app's admin.
    let r = admin_get(&app, &task, &app.auth("alice"), None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let other = app.app_cli(&["create", "--sdkappid", "1400000777"]);
    let sig = localrecord::auth::usersig::generate(
        1400000777,
        other["SecretKey"].as_str().unwrap(),
        "administrator",
        3600,
        localrecord::auth::now(),
        None,
    );
    register_secret(&sig);
    let foreign = format!("UserSig sdkappid=1400000777,identifier=administrator,usersig={sig}");
    assert_eq!(
        admin_get(&app, &task, &foreign, None).await.status(),
        StatusCode::NOT_FOUND
    );

    // One changed byte in the stored file: the download fails loudly, never serves garbage.
    let t = localrecord::db::tasks::get(&app.state.db, &task)
        .await
        .unwrap()
        .unwrap();
    let path = app.state.store.local_path(&t.video_output_key.unwrap()).unwrap();
    let mut changed = bytes.clone();
    changed[bytes.len() / 2] ^= 0x01;
    std::fs::write(&path, &changed).unwrap();
    let r = admin_get(&app, &task, &admin, Some("bytes=0-")).await;
    let failed = !r.status().is_success() || r.bytes().await.is_err();
    assert!(failed, "a changed recording must not download");
    changed[20] ^= 0x01; // and in the header: refused before any byte
    std::fs::write(&path, &changed).unwrap();
    let r = admin_get(&app, &task, &admin, Some("bytes=0-")).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

/// `src` encrypted with `key` into `out`.
fn seal(src: &Path, out: &Path, key: &Key) {
    let mut w = EncryptWriter::new(std::fs::File::create(out).unwrap(), key, 16384).unwrap();
    w.write_all(&std::fs::read(src).unwrap()).unwrap();
    w.finish().unwrap();
}

/// Creates an upload of `data` for slice `index` of `task`, encrypted with `key_id` when given.
async fn create(app: &TestApp, task: &str, index: i64, len: usize, key_id: Option<&str>) -> reqwest::Response {
    let mut md = format!("task_id {},slice_index {}", b64(task), b64(&index.to_string()));
    if let Some(k) = key_id {
        md += &format!(",encryption {},key_id {}", b64("lrcrypt-v1"), b64(k));
    }
    app.tus(reqwest::Method::POST, &app.url("/localrecord/v1/uploads/"), "alice")
        .header("upload-length", len.to_string())
        .header("upload-metadata", md)
        .send()
        .await
        .unwrap()
}

async fn upload(app: &TestApp, task: &str, index: i64, data: &[u8], key_id: Option<&str>) -> reqwest::Response {
    let r = create(app, task, index, data.len(), key_id).await;
    if r.status() != StatusCode::CREATED {
        return r;
    }
    app.tus_patch("alice", &location(&r), 0, data.to_vec(), true).await
}

#[tokio::test]
async fn a_task_is_all_plain_or_all_encrypted() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = app_key(&app, dir.path());
    let id = key.id().to_string();
    let spec = SliceSpec {
        secs: 2.0,
        ..Default::default()
    };
    let flv = make_slice(dir.path(), "0.flv", &spec);
    let plain = std::fs::read(&flv).unwrap();
    let sealed_path = dir.path().join("0.sealed");
    seal(&flv, &sealed_path, &key);
    let sealed = std::fs::read(&sealed_path).unwrap();

    // Plain first: an encrypted slice is refused, with the reason.
    let t1 = app.create_task("alice", 501).await;
    assert_eq!(
        upload(&app, &t1, 0, &plain, None).await.status(),
        StatusCode::NO_CONTENT
    );
    let (code, msg) = error_of(create(&app, &t1, 1, sealed.len(), Some(&id)).await).await;
    assert!(
        msg.contains("plain slices") && msg.contains("all plain or all encrypted"),
        "{code} {msg}"
    );
    // Encrypted first: a plain slice is refused; an unknown key id too.
    let t2 = app.create_task("alice", 502).await;
    assert_eq!(
        upload(&app, &t2, 0, &sealed, Some(&id)).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = create(&app, &t2, 1, plain.len(), None).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = create(&app, &t2, 1, sealed.len(), Some("0123456789abcdef")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Behind the refusal, the splice: a task that still mixes them (here by hand) fails, saying so.
    assert_eq!(
        upload(&app, &t2, 1, &sealed, Some(&id)).await.status(),
        StatusCode::NO_CONTENT
    );
    sqlx::query("UPDATE slices SET key_id = NULL WHERE task_id = $1 AND slice_index = 1")
        .bind(&t2)
        .execute(&app.state.db)
        .await
        .unwrap();
    assert_eq!(app.stop_task("alice", &t2, 2).await.status(), StatusCode::OK);
    let done = crate::faults::wait_task(&app, &t2, 60, |s| s["State"] == "failed").await;
    let why = done["FailureReason"].as_str().unwrap_or_default();
    assert!(why.contains("mixes encrypted and plain slices"), "{done}");
}

#[tokio::test]
async fn on_s3_encrypted_slices_splice_sealed_and_download_by_range() {
    let app = spawn_app_on(StoreKind::S3).await;
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = app_key(&app, dir.path());
    let id = key.id().to_string();
    let task = app.create_task("alice", 503).await;
    for i in 0..2 {
        let spec = SliceSpec {
            secs: 2.0,
            tone: 440 + 220 * i,
            ..Default::default()
        };
        let flv = make_slice(dir.path(), &format!("{i}.flv"), &spec);
        let sealed = dir.path().join(format!("{i}.sealed"));
        seal(&flv, &sealed, &key);
        let data = std::fs::read(&sealed).unwrap();
        assert_eq!(
            upload(&app, &task, i as i64, &data, Some(&id)).await.status(),
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(app.stop_task("alice", &task, 2).await.status(), StatusCode::OK);
    let status = wait_done(&app, &task).await;
    assert_eq!(status["Encrypted"], true, "{status}");
    let stored = std::fs::read(download_mp4(&app, &status, dir.path()).await).unwrap();
    let mut plain = Vec::new();
    DecryptReader::new(&stored[..], &key)
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    let plain_mp4 = dir.path().join("plain.mp4");
    std::fs::write(&plain_mp4, &plain).unwrap();
    assert!(moov_first(&plain_mp4));
    assert_eq!(decode_errors(&plain_mp4), "");
    assert!(
        (3.5..=4.5).contains(&video_secs(&plain_mp4)),
        "{}",
        video_secs(&plain_mp4)
    );

    // Ranged reads of the S3 object underneath: a range across a chunk boundary, and the tail.
    let admin = app.auth("administrator");
    let (a, b) = (65_000, 200_000.min(plain.len() - 1));
    let r = admin_get(&app, &task, &admin, Some(&format!("bytes={a}-{b}"))).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap(), plain[a..=b]);
    let r = admin_get(&app, &task, &admin, Some("bytes=-1000")).await;
    assert_eq!(r.bytes().await.unwrap(), plain[plain.len() - 1000..]);
    let r = admin_get(&app, &task, &admin, Some(&format!("bytes={}-", plain.len()))).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // The console's recording page plays it from its own decrypting route (the session's sign-in).
    let (cookie, _) = crate::console_support::sign_in(&app, "administrator").await;
    let page = format!("/admin/recordings/{task}");
    let get = |path: String, range: &'static str| {
        let req = app.client.get(app.url(&path)).header("cookie", &cookie);
        req.header("range", range).send()
    };
    let html = get(page.clone(), "bytes=0-")
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/");
    let src = format!("src=\"{page}/recording.mp4\"");
    assert!(html.contains(&src) && html.contains("id=\"encrypted\""), "{html}");
    let r = get(format!("{page}/recording.mp4"), "bytes=1000-2999").await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap(), plain[1000..3000]);
    let r = app
        .client
        .get(app.url(&format!("{page}/recording.mp4")))
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(
        body.contains("<h1>Sign in</h1>"),
        "no session: the sign-in page, not the recording"
    );

    let mut found = Vec::new();
    plaintext_media(app.backing.data_dir.path(), &mut found);
    assert!(found.is_empty(), "plaintext media on disk: {found:?}");
}
