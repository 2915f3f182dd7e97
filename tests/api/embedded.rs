//! The README's run path with nothing configured: `localrecord serve` starts a private PostgreSQL
//! under the data dir and stores objects on local disk; `localrecord app create` and
//! `localrecord usersig` work beside it; SIGTERM stops both cleanly.

use crate::helpers::free_port;
use reqwest::StatusCode;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_localrecord");

fn cli(data: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("LOCALRECORD_DATABASE_URL")
        .env("LOCALRECORD_DATA_DIR", data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn serve_with_no_database_url_runs_a_private_postgres() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut serve = tokio::process::Command::new(BIN)
        .arg("serve")
        .env_remove("LOCALRECORD_DATABASE_URL")
        .env("LOCALRECORD_DATA_DIR", data.path())
        .env("LOCALRECORD_LISTEN", format!("127.0.0.1:{port}"))
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{base}/health")).send().await {
            up = r.status() == StatusCode::OK;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "server answered /health");
    assert!(data.path().join("postgres/data/PG_VERSION").exists());

    let keys = crate::helpers::app_create_cli(
        BIN,
        1400000009,
        &[(
            "LOCALRECORD_DATA_DIR".into(),
            data.path().to_string_lossy().into_owned(),
        )],
    );
    assert_eq!(keys["SdkAppId"], 1400000009);
    assert_eq!(keys["AdminIdentifiers"], serde_json::json!(["administrator"]));
    assert_eq!(keys["SecretKey"].as_str().unwrap().len(), 64);
    assert!(keys["WebhookSecret"].as_str().unwrap().starts_with("whsec_"));
    let token = cli(
        data.path(),
        &["usersig", "--sdkappid", "1400000009", "--identifier", "alice"],
    );
    let r = client
        .post(format!(
            "{base}/localrecord/v1/tasks?sdkappid=1400000009&identifier=alice&usersig={}",
            token.trim()
        ))
        .json(&serde_json::json!({ "ClassId": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(data.path().join("objects").is_dir(), "fs store under the data dir");

    another_local_user_reaches_nothing(data.path());

    // SIGTERM: the server exits cleanly and stops its PostgreSQL.
    let pid = serve.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(30), serve.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        !data.path().join("postgres/data/postmaster.pid").exists(),
        "private PostgreSQL stopped"
    );
}

/// Another local user (`nobody`) can neither connect to the private PostgreSQL (whose trust
/// authentication would make it superuser) nor read the stored objects. Needs root to act as
/// `nobody`; checks the modes either way.
fn another_local_user_reaches_nothing(data: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data.join("postgres")), 0o700, "socket dir");
    assert_eq!(mode(&data.join("objects")) & 0o077, 0, "object store");
    assert_eq!(mode(data) & 0o076, 0, "data dir: at most traversable by others");
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root {
        println!("not root: skipping the attempt as another user");
        return;
    }
    let conn = format!(
        "host={} user=postgres dbname=localrecord",
        data.join("postgres").display()
    );
    let out = Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            "psql",
            &conn,
            "-Atc",
            "select secret_key from apps",
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "nobody reached the database: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ermission denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ls = Command::new("runuser")
        .args(["-u", "nobody", "--", "ls"])
        .arg(data.join("objects"))
        .output()
        .unwrap();
    assert!(!ls.status.success(), "nobody listed the object store");
}
