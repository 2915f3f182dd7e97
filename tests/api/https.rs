//! The server speaks HTTPS itself when given a certificate and key.

use crate::helpers::*;
use reqwest::StatusCode;
use std::process::Command;

#[tokio::test]
async fn serves_https_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    // A leaf certificate (not a CA) for 127.0.0.1, as a real server has.
    let cfg = dir.path().join("openssl.cnf");
    std::fs::write(
        &cfg,
        "[req]\ndistinguished_name = dn\nx509_extensions = ext\nprompt = no\n[dn]\nCN = localhost\n[ext]\n\
         subjectAltName = IP:127.0.0.1,DNS:localhost\nbasicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-config",
        ])
        .arg(&cfg)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl CLI");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (c, k) = (cert.clone(), key.clone());
    let app = spawn_app_with(StoreKind::Fs, move |s| {
        s.tls.cert_file = Some(c);
        s.tls.key_file = Some(k);
    })
    .await;
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap())
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{}", app.addr.port());
    let r = https.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The recorder API works over it, and tus hands out https:// upload URLs.
    let r = https
        .post(format!("{base}/localrecord/v1/tasks"))
        .header("authorization", app.auth("alice"))
        .json(&serde_json::json!({ "ClassId": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let task = r.json::<serde_json::Value>().await.unwrap()["Response"]["TaskId"]
        .as_str()
        .unwrap()
        .to_owned();
    let md = format!("task_id {},slice_index {}", b64(&task), b64("0"));
    let r = https
        .post(format!("{base}/localrecord/v1/uploads/"))
        .header("tus-resumable", "1.0.0")
        .header("authorization", app.auth("alice"))
        .header("upload-length", "3")
        .header("upload-metadata", md)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(
        location(&r).starts_with(&format!("{base}/localrecord/v1/uploads/")),
        "{}",
        location(&r)
    );
    // Plain HTTP on the HTTPS port gets nowhere; a client that does not trust the certificate neither.
    assert!(app
        .client
        .get(format!("http://127.0.0.1:{}/health", app.addr.port()))
        .send()
        .await
        .map(|r| r.status() != StatusCode::OK)
        .unwrap_or(true));
    assert!(reqwest::Client::new()
        .get(format!("{base}/health"))
        .send()
        .await
        .is_err());
    // Over HTTPS the admin console's session cookie is Secure.
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("sdkappid", &SDKAPPID.to_string())
        .append_pair("identifier", "administrator")
        .append_pair("usersig", &app.usersig("administrator"))
        .finish();
    let no_redirects = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .post(format!("{base}/admin/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    register_secret(cookie.split(';').next().unwrap().split_once('=').unwrap().1);
    assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly"), "{cookie}");
}
