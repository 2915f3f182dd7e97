//! The control API as a hostile web page meets it: over real HTTP against `localrecord-recorder
//! serve`, the requests a browser makes (preflight, then the POST) from an allowed origin and
//! from a foreign one, simple requests that would skip the preflight, DNS rebinding, and
//! DstPaths that lead outside the allowed directory.

use crate::helpers::*;
use crate::recorder_support::*;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLASS: &str = "https://class.example.com";
const EVIL: &str = "https://evil.example";

fn code(v: &Value) -> i64 {
    v["Response"]["Error"]["Code"].as_i64().unwrap_or(0)
}

fn cors_headers(h: &HeaderMap) -> Vec<String> {
    h.keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-allow"))
        .collect()
}

/// A request as a browser (or curl) sends it: (status, headers, JSON body or Null).
async fn send(s: &Served, method: &str, cmd: &str, headers: &[(&str, &str)], body: &str) -> (u16, HeaderMap, Value) {
    let mut req = reqwest::Client::new().request(method.parse().unwrap(), format!("{}{cmd}", s.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.body(body.to_owned()).send().await.unwrap();
    let (status, h) = (r.status().as_u16(), r.headers().clone());
    let v = r.json().await.unwrap_or(Value::Null);
    (status, h, v)
}

/// A raw HTTP/1.1 request with a `Host` of our choosing (what a DNS-rebinding page sends).
async fn with_host(port: u16, host: &str) -> (u16, String) {
    let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!(
        "POST /localrecord/v1/GetState HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    c.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    (status, out)
}

fn port_of(s: &Served) -> u16 {
    s.base
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn only_allowed_origins_json_bodies_and_the_loopback_host_reach_the_commands() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("videos");
    let outside = dir.path().join("elsewhere");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let s = serve(
        &app.base,
        &dir.path().join("rec"),
        &["--allow-origin", CLASS, "--dst-dir", allowed.to_str().unwrap()],
    )
    .await;
    let json_ct = ("Content-Type", "application/json");

    // The allowed page's preflight gets the allow headers (with Private Network Access).
    let preflight = |origin: &'static str| {
        vec![
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
            ("Access-Control-Request-Private-Network", "true"),
        ]
    };
    let (st, h, _) = send(&s, "OPTIONS", "StartRecord", &preflight(CLASS), "").await;
    assert!((200..300).contains(&st), "{st}");
    assert_eq!(h["access-control-allow-origin"], CLASS);
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase()
        .contains("content-type"));
    assert_eq!(h["access-control-allow-private-network"], "true");
    // Its POST runs and may be read by the page.
    let (st, h, v) = send(&s, "POST", "GetState", &[("Origin", CLASS), json_ct], "{}").await;
    assert_eq!(st, 200);
    assert_eq!(h["access-control-allow-origin"], CLASS);
    assert_eq!(v["Response"]["Auth"]["State"], "Not Authentication", "{v}");

    // A foreign page's preflight gets no CORS allowance at all, so its browser stops there.
    let (st, h, _) = send(&s, "OPTIONS", "StartRecord", &preflight(EVIL), "").await;
    assert!(!(200..300).contains(&st), "{st}");
    assert_eq!(cors_headers(&h), Vec::<String>::new());
    // And its POST, should it arrive anyway, is refused before it runs (Exit would end us).
    let (st, h, v) = send(&s, "POST", "Exit", &[("Origin", EVIL), json_ct], "{}").await;
    assert_eq!(st, 403);
    assert_eq!(code(&v), -10000, "{v}");
    assert_eq!(cors_headers(&h), Vec::<String>::new());

    // Simple requests (no preflight in any browser) are refused, with or without an Origin.
    for (origin, ct) in [
        (Some(CLASS), Some("text/plain")),
        (None, Some("text/plain;charset=UTF-8")),
        (None, Some("application/x-www-form-urlencoded")),
        (None, None),
    ] {
        let mut hs = Vec::new();
        hs.extend(origin.map(|o| ("Origin", o)));
        hs.extend(ct.map(|c| ("Content-Type", c)));
        let (st, _, v) = send(&s, "POST", "Exit", &hs, "{}").await;
        assert_eq!(st, 415, "{origin:?} {ct:?}");
        assert_eq!(code(&v), -10000, "{v}");
    }

    // DNS rebinding: evil.example resolving to 127.0.0.1 sends its own name as Host.
    let port = port_of(&s);
    let (st, raw) = with_host(port, &format!("evil.example:{port}")).await;
    assert_eq!(st, 421, "{raw}");
    assert!(raw.contains("-10000"), "{raw}");
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        assert_eq!(with_host(port, &host).await.0, 200, "{host}");
    }

    // Programs send no Origin: curl-style requests work as before, unknown commands are 404.
    let (st, h, v) = send(&s, "POST", "GetState", &[json_ct], "{}").await;
    assert_eq!((st, v["Response"]["Record"]["State"].as_str()), (200, Some("Idle")));
    assert!(h.get("access-control-allow-origin").is_none());
    assert_eq!(send(&s, "POST", "Nope", &[json_ct], "{}").await.0, 404);

    // DstPath: only new files inside --dst-dir, never through a link.
    let sig = app.usersig("alice");
    let init = json!({"SdkAppId": SDKAPPID, "UserId": "alice", "UserSig": sig});
    assert_eq!(cmd(&s, "Init", init).await, json!({"Response": {}}));
    let start = |p: &std::path::Path| json!({"ClassId": 4001, "DstPath": p});
    let v = cmd(&s, "StartRecord", start(&outside.join("a.flv"))).await;
    assert_eq!(code(&v), -10000, "{v}");
    assert!(!outside.join("a.flv").exists());
    let v = cmd(&s, "StartRecord", start(&allowed.join("../elsewhere/b.flv"))).await;
    assert_eq!(code(&v), -10000, "{v}");
    std::os::unix::fs::symlink(outside.join("target.flv"), allowed.join("link.flv")).unwrap();
    let v = cmd(&s, "StartRecord", start(&allowed.join("link.flv"))).await;
    assert_eq!(code(&v), -10000, "{v}");
    assert!(!outside.join("target.flv").exists(), "the link was not followed");
    std::os::unix::fs::symlink(&outside, allowed.join("sub")).unwrap();
    let v = cmd(&s, "StartRecord", start(&allowed.join("sub/c.flv"))).await;
    assert_eq!(code(&v), -10000, "{v}");
    assert!(!outside.join("c.flv").exists());
    assert_eq!(
        cmd(&s, "GetState", json!({})).await["Response"]["Record"]["State"],
        "Idle",
        "nothing started"
    );
    // Inside the allowed directory it records.
    let v = cmd(&s, "StartRecord", start(&allowed.join("lesson.flv"))).await;
    assert!(v["Response"]["TaskId"].is_string(), "{v}");
    for _ in 0..300 {
        let st = cmd(&s, "GetState", json!({})).await;
        if st["Response"]["Record"]["Duration"].as_i64() >= Some(1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(cmd(&s, "StopRecord", json!({})).await["Response"]["TaskId"].is_string());
    assert!(allowed.join("lesson.flv").metadata().unwrap().len() > 0);
}
