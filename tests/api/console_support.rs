//! For the admin console's tests: the real `localrecord admin login` CLI, a finished recording
//! made of real FLV slices, and browser scripts (tests/browser/*.mjs, node + playwright-core +
//! Debian's chromium) run as child processes the test talks to line by line.

use crate::helpers::*;
use crate::media::{make_slice, SliceSpec};
use serde_json::Value;
use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// Where playwright-core is installed (`deploy/localrecord.sh test` exports it). Missing is a
/// failure, not a skip: these tests are the console's only proof in a browser.
fn node_modules() -> String {
    let dir = std::env::var("LOCALRECORD_TEST_NODE_MODULES").unwrap_or_else(|_| {
        panic!(
            "LOCALRECORD_TEST_NODE_MODULES is not set: the console's browser tests need node, \
             playwright-core and chromium; run `deploy/localrecord.sh test` (installs them into \
             target/tools/node) or export LOCALRECORD_TEST_NODE_MODULES=<dir>/node_modules"
        )
    });
    let pw = std::path::Path::new(&dir).join("playwright-core/index.mjs");
    assert!(
        pw.exists(),
        "no playwright-core in {dir} (LOCALRECORD_TEST_NODE_MODULES)"
    );
    dir
}

/// A browser script running.
pub struct Browser {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    pub out: HashMap<String, String>,
    log: Vec<String>,
}

impl Browser {
    pub fn start(script: &str, env: &[(&str, String)]) -> Browser {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg(format!("{root}/tests/browser/{script}"))
            .current_dir(root)
            .env("LOCALRECORD_TEST_NODE_MODULES", node_modules())
            .env("SCREENSHOT_DIR", format!("{root}/target/screenshots"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("node runs (install it: deploy/localrecord.sh test)");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Browser {
            child,
            lines,
            out: HashMap::new(),
            log: Vec::new(),
        }
    }

    async fn next_line(&mut self, until: Instant) -> Option<String> {
        let left = until.saturating_duration_since(Instant::now());
        let line = tokio::time::timeout(left, self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("browser script timed out; output so far:\n{}", self.log.join("\n")))
            .unwrap()?;
        self.log.push(line.clone());
        if let Some((k, v)) = line.split_once('=') {
            self.out.insert(k.to_owned(), v.to_owned());
        }
        Some(line)
    }

    /// Reads output until the script prints `key=...`; returns the value.
    pub async fn wait_for(&mut self, key: &str) -> String {
        let until = Instant::now() + Duration::from_secs(120);
        while self.next_line(until).await.is_some() {
            if let Some(v) = self.out.get(key) {
                return v.clone();
            }
        }
        panic!("browser script ended before printing {key}:\n{}", self.log.join("\n"));
    }

    /// Tells a waiting script to go on.
    pub async fn go(&mut self) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// Waits for the script to end, which must be a success; returns everything it printed.
    pub async fn finish(mut self) -> HashMap<String, String> {
        let until = Instant::now() + Duration::from_secs(180);
        while self.next_line(until).await.is_some() {}
        let status = self.child.wait().await.unwrap();
        assert!(status.success(), "browser script failed:\n{}", self.log.join("\n"));
        assert!(self.out.contains_key("screenshot"), "no screenshot saved");
        self.out
    }
}

/// `localrecord admin login --sdkappid N [--identifier X]`, run as an operator would; returns the
/// link it prints (its token is a secret the logs must never show).
pub fn login_link(app: &TestApp, identifier: Option<&str>) -> String {
    login_link_for(app, SDKAPPID, identifier)
}

/// [`login_link`] for any app of the test's database.
pub fn login_link_for(app: &TestApp, sdkappid: i64, identifier: Option<&str>) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_localrecord"));
    cmd.args(["admin", "login", "--sdkappid", &sdkappid.to_string()])
        .env("LOCALRECORD_DATABASE_URL", &app.backing.db_url)
        .env("LOCALRECORD_DATA_DIR", app.backing.data_dir.path())
        .env("LOCALRECORD_PUBLIC_URL", &app.base);
    if let Some(i) = identifier {
        cmd.args(["--identifier", i]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let token = link
        .split_once("/admin/login?token=")
        .unwrap_or_else(|| panic!("not a sign-in link: {link}"))
        .1;
    assert_eq!(token.len(), 64, "{link}");
    register_secret(token);
    link
}

/// A finished recording of `user` in `class`: two real 2-second FLV slices uploaded, stopped,
/// spliced. Returns the task id and its final status.
pub async fn finished_recording(app: &TestApp, user: &str, class: i64) -> (String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let task = app.create_task(user, class).await;
    for i in 0..2 {
        let spec = SliceSpec {
            secs: 2.0,
            tone: 440 + 110 * i as u32,
            ..Default::default()
        };
        let f = make_slice(dir.path(), &format!("{i}.flv"), &spec);
        app.upload_slice(user, &task, i, &std::fs::read(f).unwrap(), 256 * 1024)
            .await;
    }
    assert_eq!(app.stop_task(user, &task, 2).await.status(), 200);
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let st = app.task_status(user, &task).await;
        if st["State"] == "done" {
            return (task, st);
        }
        assert!(Instant::now() < until, "never spliced: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client that shows redirects instead of following them (what the console answers is the test).
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in with a pasted UserSig over plain HTTP (no browser); returns the session cookie
/// (`lr_admin=...`) and the Set-Cookie header.
pub async fn sign_in(app: &TestApp, identifier: &str) -> (String, String) {
    let r = post_sign_in(app, SDKAPPID, identifier, &app.usersig(identifier), None).await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    session_cookie(&r)
}

/// POSTs the sign-in form (`/admin/login`) with `sdkappid`, `identifier` and `usersig`, sending
/// `cookie` (a session the browser already holds) when given.
pub async fn post_sign_in(
    app: &TestApp,
    sdkappid: i64,
    identifier: &str,
    usersig: &str,
    cookie: Option<&str>,
) -> reqwest::Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("sdkappid", &sdkappid.to_string())
        .append_pair("identifier", identifier)
        .append_pair("usersig", usersig)
        .finish();
    let mut r = no_redirects()
        .post(app.url("/admin/login"))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.body(body).send().await.unwrap()
}

/// The session cookie an answer sets (`lr_admin=...`, registered with the log leak check) and the
/// whole Set-Cookie header.
pub fn session_cookie(r: &reqwest::Response) -> (String, String) {
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie = set.split(';').next().unwrap().to_owned();
    register_secret(cookie.split_once('=').unwrap().1);
    (cookie, set)
}

/// A second app of the test's database, SdkAppId [`OtherApp::ID`], made with the real
/// `localrecord app create` (its admin identifier is `administrator`, like the first app's).
pub struct OtherApp {
    pub secret_key: String,
}

impl OtherApp {
    pub const ID: i64 = 1400000002;

    pub fn create(app: &TestApp) -> OtherApp {
        let keys = app.app_cli(&["create", "--sdkappid", &Self::ID.to_string()]);
        for k in ["SecretKey", "TicKey", "WebhookSecret"] {
            register_secret(keys[k].as_str().unwrap());
        }
        OtherApp {
            secret_key: keys["SecretKey"].as_str().unwrap().to_owned(),
        }
    }

    /// A one-hour UserSig of this app for `user`.
    pub fn usersig(&self, user: &str) -> String {
        forged_usersig(Self::ID, &self.secret_key, user)
    }

    /// Starts a recording of `user` in `class` through the API, as this app's recorder would.
    pub async fn create_task(&self, app: &TestApp, user: &str, class: i64) -> String {
        let auth = format!(
            "UserSig sdkappid={},identifier={user},usersig={}",
            Self::ID,
            self.usersig(user)
        );
        let r = app
            .client
            .post(app.url("/localrecord/v1/tasks"))
            .header("authorization", auth)
            .json(&serde_json::json!({ "ClassId": class }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["Response"]["TaskId"].as_str().unwrap().to_owned()
    }
}

/// A UserSig that names `sdkappid` but is signed with `key` (which may be another app's).
pub fn forged_usersig(sdkappid: i64, key: &str, user: &str) -> String {
    let now = localrecord::auth::now();
    let sig = localrecord::auth::usersig::generate(sdkappid as u64, key, user, 3600, now, None);
    register_secret(&sig);
    sig
}

/// The SdkAppIds of a console apps page's rows (`<tr data-app=...>`).
pub fn apps_listed(html: &str) -> Vec<i64> {
    html.match_indices("<tr data-app=\"")
        .map(|(i, m)| html[i + m.len()..].split('"').next().unwrap().parse().unwrap())
        .collect()
}

/// The CSRF token in a console page's forms.
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    html[at..at + 64].to_owned()
}

/// The task ids a recordings page lists, in its order (its HTML with `&#x2f;` already undone).
pub fn tasks_listed(html: &str) -> Vec<String> {
    html.match_indices("class=\"task\" href=\"/admin/recordings/")
        .map(|(i, m)| html[i + m.len()..].split('"').next().unwrap().to_owned())
        .collect()
}
