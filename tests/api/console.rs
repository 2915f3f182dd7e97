//! The admin console at /admin, in a real browser (Debian's chromium driven by playwright-core,
//! scripts in tests/browser/) against the real server with real recordings; and its security
//! properties checked over plain HTTP where a browser cannot show them (cookie attributes, another
//! site's Origin).

use crate::callbacks::{register, Receiver};
use crate::console_support::*;
use crate::helpers::*;
use std::time::Duration;

#[tokio::test]
async fn console_link_signs_in_once_finds_by_class_and_plays() {
    let app = spawn_app().await;
    let (task, status) = finished_recording(&app, "alice", 31415).await;
    finished_recording(&app, "bob", 27182).await; // another class: must not be found
    let link = login_link(&app, None);

    let out = Browser::start(
        "sign_in_and_play.mjs",
        &[("LINK", link.clone()), ("CLASS_ID", "31415".into())],
    )
    .finish()
    .await;
    assert_eq!(out["signed_in_as"], format!("administrator · SdkAppId {SDKAPPID}"));
    assert_eq!(out["rows"], "1", "only the class searched for");
    assert_eq!(out["task_id"], task);
    assert!(out["ready_state"].parse::<u32>().unwrap() >= 3, "{out:?}");
    assert_eq!(out["current_time_advanced"], "true");
    let duration: f64 = out["duration"].parse().unwrap();
    let want = status["VideoOutputDuration"].as_f64().unwrap() / 1000.0;
    assert!(
        (duration - want).abs() < 0.5,
        "browser says {duration} s, server {want} s"
    );
    assert_eq!(out["video_width"], "320");
    // The timeline lists both slices with the MD5 of what was uploaded.
    let slices: Vec<Vec<String>> = serde_json::from_str(&out["slices"]).unwrap();
    assert_eq!(slices.len(), 2, "{slices:?}");
    let stored = app.stored_slice(&task, 0).await.unwrap();
    assert_eq!(slices[0][2], md5_hex(&stored));
    // The link worked once.
    assert_eq!(out["second_use_status"], "410");
    assert!(
        out["second_use_error"].contains("already used or has expired"),
        "{out:?}"
    );
    assert_eq!(out["second_use_has_button"], "false");

    // Used, the link's token is refused by the sign-in POST itself too (not only its page).
    let token = link.split_once("token=").unwrap().1;
    let r = no_redirects()
        .post(app.url("/admin/login/link"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    assert!(r.headers().get("set-cookie").is_none());

    let audit = audit_actions(&app).await;
    assert!(audit.contains(&("cli".into(), "console-link".into())), "{audit:?}");
    assert!(
        audit.contains(&("administrator".into(), "console-login".into())),
        "{audit:?}"
    );
}

/// (actor, action) of the app's audit rows.
async fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    let (entries, _) = localrecord::db::audit::page(&app.state.db, SDKAPPID, 0, 100)
        .await
        .unwrap();
    entries.into_iter().map(|e| (e.actor, e.action)).collect()
}

#[tokio::test]
async fn console_usersig_sign_in_and_redeliver_shows_the_new_attempt() {
    let app = crate::callbacks::callback_app(vec![1]).await;
    let receiver = Receiver::start(free_port(), &app.keys.webhook_secret, vec![]).await;
    register(&app, &receiver.url).await;
    let (task, _) = finished_recording(&app, "alice", 4242).await;
    receiver.wait_for(1, 30).await;
    // The attempt's row is written after the receiver answered: wait for it, so the page's count
    // before the redelivery is the first attempt's.
    for _ in 0..300 {
        if !localrecord::jobs::callback::attempts(&app.state.db, &task)
            .await
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let b = Browser::start(
        "usersig_redeliver.mjs",
        &[
            ("BASE", app.base.clone()),
            ("SDKAPPID", SDKAPPID.to_string()),
            ("USER", "alice".into()),
            ("USERSIG_USER", app.usersig("alice")),
            ("ADMIN", "administrator".into()),
            ("USERSIG_ADMIN", app.usersig("administrator")),
            ("TASK_ID", task.clone()),
        ],
    );
    let out = b.finish().await;
    assert_eq!(out["unsigned_lands_on"], "/admin/login");
    assert!(out["user_refused"].contains("not an admin identifier"), "{out:?}");
    assert_eq!(out["signed_in_at"], "/admin");
    assert_eq!(out["signed_in_as"], format!("administrator · SdkAppId {SDKAPPID}"));
    assert_eq!(out["attempts_before"], "1");
    assert!(out["notice"].contains("queued for redelivery"), "{out:?}");
    assert_eq!(out["attempts_after"], "2", "{out:?}");
    // The receiver got the same message twice (same webhook-id), and the page lists both attempts.
    let got = receiver.wait_for(2, 30).await;
    assert_eq!(got[0].id, got[1].id);
    assert!(got.iter().all(|d| d.signature_ok));
    let attempts: Vec<Vec<String>> = serde_json::from_str(&out["attempts"]).unwrap();
    assert!(
        attempts.iter().all(|a| a[1] == got[0].id && a[4] == "200"),
        "{attempts:?}"
    );
    let audit = audit_actions(&app).await;
    assert!(
        audit.contains(&("administrator".into(), "redeliver".into())),
        "{audit:?}"
    );
}

#[tokio::test]
async fn console_resplice_and_delete_remove_objects_and_rows() {
    let app = spawn_app().await;
    let (task, _) = finished_recording(&app, "alice", 777).await;
    let (other, _) = finished_recording(&app, "alice", 778).await;
    let before = localrecord::db::tasks::get(&app.state.db, &task)
        .await
        .unwrap()
        .unwrap();
    let slice_keys: Vec<String> = localrecord::db::slices::for_task(&app.state.db, &task)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.object_key)
        .collect();
    assert_eq!(slice_keys.len(), 2);
    let link = login_link(&app, None);

    let mut b = Browser::start(
        "resplice_delete.mjs",
        &[("BASE", app.base.clone()), ("LINK", link), ("TASK_ID", task.clone())],
    );
    b.wait_for("waiting").await;
    assert!(b.out["notice"].contains("new splice was queued"), "{:?}", b.out);
    // The re-splice runs on the job queue: a new MP4 (new key, same VideoOutputId), a later splice
    // time, the old MP4 gone from the store.
    let mut after = before.clone();
    for _ in 0..300 {
        after = localrecord::db::tasks::get(&app.state.db, &task)
            .await
            .unwrap()
            .unwrap();
        if after.video_output_key != before.video_output_key && after.state == localrecord::db::tasks::TaskState::Done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(after.video_output_key, before.video_output_key, "never spliced again");
    assert_eq!(after.video_output_id, before.video_output_id);
    assert!(after.splic_time > before.splic_time);
    let old_key = before.video_output_key.clone().unwrap();
    let new_key = after.video_output_key.clone().unwrap();
    b.go().await;
    let out = b.finish().await;
    assert_ne!(out["spliced_before"], out["spliced_after"], "{out:?}");
    // The timeline lists both runs of the splice job: the stop's and the re-splice, each published.
    let runs: Vec<Vec<String>> = serde_json::from_str(&out["splice_runs"]).unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(
        runs.iter().all(|r| r[4].trim() == "done" && r[5].trim().is_empty()),
        "{runs:?}"
    );
    assert_eq!((runs[0][0].trim(), runs[1][0].trim()), ("1", "2"), "{runs:?}");
    assert!(out["dialog"].contains("cannot be undone"), "{out:?}");
    assert_eq!(out["after_dismiss_path"], format!("/admin/recordings/{task}"));
    assert_eq!(out["after_delete_path"], "/admin/recordings");
    assert_eq!(out["deleted_page_status"], "404");

    // Rows and objects gone; the other recording untouched.
    let db = &app.state.db;
    assert!(localrecord::db::tasks::get(db, &task).await.unwrap().is_none());
    assert!(localrecord::db::slices::for_task(db, &task).await.unwrap().is_empty());
    let store = &app.state.store;
    for key in [old_key, new_key].into_iter().chain(slice_keys) {
        assert_eq!(store.size(&key).await.unwrap(), None, "{key} still stored");
    }
    let kept = localrecord::db::tasks::get(db, &other).await.unwrap().unwrap();
    assert!(store
        .size(kept.video_output_key.as_ref().unwrap())
        .await
        .unwrap()
        .is_some());
    assert_eq!(localrecord::db::slices::for_task(db, &other).await.unwrap().len(), 2);
    // Audited as the admin, through the console; shown on the audit page.
    let (entries, _) = localrecord::db::audit::page(db, SDKAPPID, 0, 100).await.unwrap();
    let del = entries.iter().find(|e| e.action == "delete").expect("a delete row");
    assert_eq!(
        (del.actor.as_str(), del.target.as_str()),
        ("administrator", task.as_str())
    );
    assert_eq!(del.detail["Extra"]["Via"], "console");
    assert!(entries.iter().any(|e| e.action == "resplice" && e.target == task));
    let audit_page: Vec<Vec<String>> = serde_json::from_str(&out["audit"]).unwrap();
    assert!(
        audit_page
            .iter()
            .any(|r| r[1] == "administrator" && r[2] == "delete" && r[3] == task),
        "{audit_page:?}"
    );
}

#[tokio::test]
async fn console_refuses_without_session_csrf_or_from_another_site() {
    let app = spawn_app().await;
    let (task, _) = finished_recording(&app, "alice", 99).await;
    let link = login_link(&app, None);
    let out = Browser::start(
        "refusals.mjs",
        &[("BASE", app.base.clone()), ("LINK", link), ("TASK_ID", task.clone())],
    )
    .finish()
    .await;
    for path in ["/admin", "/admin/recordings", "/admin/live", "/admin/audit"] {
        assert_eq!(out[&format!("anon_get {path}")], "/admin/login", "{out:?}");
    }
    assert_eq!(out[&format!("anon_get /admin/recordings/{task}")], "/admin/login");
    assert_eq!(out["anon_post_status"], "401");
    assert_eq!(out["no_csrf_status"], "403");
    assert!(out["no_csrf_error"].contains("CSRF token"), "{out:?}");
    assert_eq!(out["wrong_csrf_status"], "403");
    assert_eq!(out["still_there"], task);
    assert!(localrecord::db::tasks::get(&app.state.db, &task)
        .await
        .unwrap()
        .is_some());

    // Over plain HTTP: the cookie's attributes, and a form from another site refused even with a
    // valid session and token (a browser would not send the Strict cookie; this checks the
    // server's own Origin / Sec-Fetch-Site check behind it).
    let (cookie, set_cookie) = sign_in(&app, "administrator").await;
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age="] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP: {set_cookie}");
    let client = no_redirects();
    let html = client
        .get(app.url(&format!("/admin/recordings/{task}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&html);
    let post = |headers: Vec<(&'static str, &'static str)>| {
        let mut r = client
            .post(app.url(&format!("/admin/recordings/{task}/resplice")))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}"));
        for (k, v) in headers {
            r = r.header(k, v);
        }
        r.send()
    };
    assert_eq!(
        post(vec![("origin", "https://evil.example")]).await.unwrap().status(),
        403
    );
    assert_eq!(
        post(vec![("sec-fetch-site", "cross-site")]).await.unwrap().status(),
        403
    );
    assert_eq!(post(vec![("sec-fetch-site", "same-site")]).await.unwrap().status(), 403);
    // The same request from the console's own origin goes through.
    let own = app.base.clone();
    let r = client
        .post(app.url(&format!("/admin/recordings/{task}/resplice")))
        .header("cookie", &cookie)
        .header("origin", own)
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // Signed out, the session is gone server-side: the old cookie no longer works.
    let r = client
        .post(app.url("/admin/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let r = client
        .get(app.url("/admin/recordings"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), location(&r).as_str()), (303, "/admin/login"));
}

#[tokio::test]
async fn console_live_page_shows_upload_progress_and_refreshes() {
    let app = spawn_app().await;
    let task = app.create_task("alice", 5150).await;
    let r = app.tus_create("alice", &task, 0, 3000).await;
    assert_eq!(r.status(), 201);
    let url = location(&r);
    let data = bytes(3000, 7);
    let r = app.tus_patch("alice", &url, 0, data[..1000].to_vec(), true).await;
    assert_eq!(r.status(), 204);
    let link = login_link(&app, None);
    let mut b = Browser::start(
        "live.mjs",
        &[
            ("BASE", app.base.clone()),
            ("LINK", link),
            ("TASK_ID", task.clone()),
            ("LENGTH", "3000".into()),
            ("RECEIVED_2", "2000".into()),
        ],
    );
    b.wait_for("waiting").await;
    assert_eq!(b.out["progress_1"], "1000 / 3000 bytes");
    let r = app
        .tus_patch("alice", &url, 1000, data[1000..2000].to_vec(), true)
        .await;
    assert_eq!(r.status(), 204);
    b.go().await;
    let out = b.finish().await;
    assert_eq!(out["progress_2"], "2000 / 3000 bytes", "{out:?}");
    assert_eq!(out["url_path"], "/admin/live");
}

#[tokio::test]
async fn console_escapes_hostile_names_pages_by_keyset_on_any_instance() {
    let app = spawn_app().await;
    let hostile = "<script>alert(\"x\")</script>&amp;";
    let task = app.create_task(hostile, 1).await;
    // 120 more tasks of one class, straight into the table (the paging is what is tested).
    let db = &app.state.db;
    for i in 0..120 {
        localrecord::db::tasks::insert(db, &format!("t-{i:03}"), SDKAPPID, 2, "bob", &serde_json::json!({}))
            .await
            .unwrap();
    }
    let (cookie, _) = sign_in(&app, "administrator").await;
    let get = |path: String| {
        let (client, cookie) = (app.client.clone(), cookie.clone());
        let url = app.url(&path);
        async move {
            let r = client.get(url).header("cookie", cookie).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    for path in [
        "/admin/recordings?class=1".to_owned(),
        format!("/admin/recordings/{task}"),
        "/admin/live".to_owned(),
    ] {
        let html = get(path.clone()).await;
        assert!(!html.contains("<script>alert"), "{path}: unescaped");
        assert!(html.contains("&lt;script&gt;alert("), "{path}: {html}");
    }
    // The session lives in Postgres: another instance serves it.
    let other = spawn_instance(&app).await;
    let r = other
        .client
        .get(other.url("/admin/recordings?class=1"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("&lt;script&gt;alert("));
    // A hostile search is echoed escaped, too.
    let html = get("/admin/recordings?user=%22%3E%3Cimg%20src%3Dx%3E".into()).await;
    assert!(!html.contains("\"><img src=x>") && html.contains("&quot;&gt;&lt;img src=x&gt;"));

    // Paging class 2 by keyset: 50 + 50 + 20, newest first, no row twice.
    let mut seen = Vec::new();
    let mut next = Some("/admin/recordings?class=2".to_owned());
    while let Some(path) = next.take() {
        // Attribute values come HTML-escaped (minijinja escapes '/' too); undo that for the links.
        let html = get(path).await.replace("&#x2f;", "/").replace("&amp;", "&");
        seen.extend(tasks_listed(&html));
        next = html
            .split_once("href=\"/admin/recordings?")
            .filter(|_| html.contains("id=\"next\""))
            .map(|(_, rest)| format!("/admin/recordings?{}", rest.split('"').next().unwrap()));
    }
    assert_eq!(seen.len(), 120);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 120);
}

/// The console's re-splice is also an admin endpoint.
#[tokio::test]
async fn resplice_api_needs_an_admin_and_a_finished_recording() {
    let app = spawn_app().await;
    let (task, _) = finished_recording(&app, "alice", 31).await;
    let open = app.create_task("alice", 32).await;
    let post = |user: &'static str, task: String| {
        let r = app
            .client
            .post(app.url(&format!("/localrecord/v1/tasks/{task}/resplice")))
            .header("authorization", app.auth(user));
        async move { r.send().await.unwrap() }
    };
    assert_eq!(
        post("alice", task.clone()).await.status(),
        403,
        "the recorder is no admin"
    );
    assert_eq!(post("administrator", open).await.status(), 409, "still recording");
    let before = localrecord::db::tasks::get(&app.state.db, &task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(post("administrator", task.clone()).await.status(), 200);
    for _ in 0..300 {
        let now = localrecord::db::tasks::get(&app.state.db, &task)
            .await
            .unwrap()
            .unwrap();
        if now.video_output_key != before.video_output_key && now.state == localrecord::db::tasks::TaskState::Done {
            let audit = audit_actions(&app).await;
            assert!(
                audit.contains(&("administrator".into(), "resplice".into())),
                "{audit:?}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never spliced again");
}

/// A sign-in link past its 5 minutes, and a session past its 12 hours, no longer work: the link
/// page says so (410) and spends nothing, the POST starts no session, the expired session's cookie
/// is sent to sign in again.
#[tokio::test]
async fn expired_links_and_sessions_are_refused() {
    let app = spawn_app().await;
    let client = no_redirects();
    let link = login_link(&app, None);
    let token = link.split_once("token=").unwrap().1.to_owned();
    sqlx::query("UPDATE console_login_tokens SET expires_at = now() - interval '1 second'")
        .execute(&app.state.db)
        .await
        .unwrap();
    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 410);
    assert!(page.text().await.unwrap().contains("expired"));
    let r = client
        .post(app.url("/admin/login/link"))
        .header("origin", app.base.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    assert!(
        r.headers().get("set-cookie").is_none(),
        "no session from an expired link"
    );

    let (cookie, _) = sign_in(&app, "administrator").await;
    let ok = client
        .get(app.url("/admin/recordings"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    sqlx::query("UPDATE console_sessions SET expires_at = now() - interval '1 second'")
        .execute(&app.state.db)
        .await
        .unwrap();
    let r = client
        .get(app.url("/admin/recordings"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), location(&r).as_str()), (303, "/admin/login"));
}

/// One console session holds several apps, each signed in to with that app's own UserSig, and
/// switches between them in the browser; a UserSig that is not the other app's own admin's is
/// refused, and signing out of one app leaves the other.
#[tokio::test]
async fn console_session_holds_several_apps_each_signed_in_by_its_own_usersig() {
    let app = spawn_app().await;
    let b = OtherApp::create(&app);
    let task_a = app.create_task("alice", 1001).await;
    let task_b = b.create_task(&app, "bob", 2002).await;
    let (a_id, b_id) = (SDKAPPID.to_string(), OtherApp::ID.to_string());
    let out = Browser::start(
        "apps.mjs",
        &[
            ("BASE", app.base.clone()),
            ("APP_A", a_id.clone()),
            ("APP_B", b_id.clone()),
            ("USERSIG_A", app.usersig("administrator")),
            ("USERSIG_B", b.usersig("administrator")),
            (
                "USERSIG_B_FORGED",
                forged_usersig(OtherApp::ID, &app.keys.secret_key, "administrator"),
            ),
            ("USER", "bob".into()),
            ("USERSIG_B_USER", b.usersig("bob")),
            ("TASK_A", task_a.clone()),
            ("TASK_B", task_b.clone()),
        ],
    )
    .finish()
    .await;
    let list = |ids: &[&str]| serde_json::to_string(ids).unwrap();
    assert_eq!(out["apps_first"], list(&[&a_id]));
    assert_eq!(out["switcher_with_one_app"], "false");
    // A UserSig naming app B but signed with app A's key proves nothing about B.
    assert_eq!(out["forged_status"], "401", "{out:?}");
    assert!(out["forged_error"].contains("UserSig was not accepted"), "{out:?}");
    assert_eq!(out["apps_after_forged"], list(&[&a_id]));
    // B's recorder is no admin of B.
    assert_eq!(out["recorder_status"], "401", "{out:?}");
    assert!(out["recorder_error"].contains("not an admin identifier"), "{out:?}");
    assert_eq!(out["apps_after_recorder"], list(&[&a_id]));
    // B's admin's own UserSig adds B, which becomes current.
    assert_eq!(out["apps_both"], list(&[&a_id, &b_id]));
    assert_eq!(out["current_after_add"], b_id);
    assert_eq!(out["who_after_add"], format!("administrator · SdkAppId {b_id}"));
    assert_eq!(out["recordings_b"], list(&[&task_b]));
    assert_eq!(out["who_after_switch"], format!("administrator · SdkAppId {a_id}"));
    assert_eq!(out["recordings_a"], list(&[&task_a]));
    assert_eq!(out["task_b_status"], "200");
    assert_eq!(out["task_b_app"], b_id);
    // Signed out of B: B is gone from the session, A goes on.
    assert_eq!(out["apps_after_signout"], list(&[&a_id]));
    assert_eq!(out["switcher_after_signout"], "false");
    assert_eq!(out["task_b_after_signout"], "404");
    assert_eq!(out["task_a_after_signout"], "200");
    assert_eq!(out["who_at_end"], format!("administrator · SdkAppId {a_id}"));

    // Each app's own audit log has its own sign-in (and B its sign-out); the refused tries wrote none.
    let actions = |id: i64| {
        let db = app.state.db.clone();
        async move {
            let (entries, _) = localrecord::db::audit::page(&db, id, 0, 100).await.unwrap();
            let mut v: Vec<String> = entries
                .into_iter()
                .map(|e| format!("{} {}", e.actor, e.action))
                .collect();
            v.sort();
            v
        }
    };
    assert_eq!(actions(SDKAPPID).await, ["administrator console-login"]);
    assert_eq!(
        actions(OtherApp::ID).await,
        ["administrator console-login", "administrator console-logout"]
    );
}

/// Over plain HTTP, what the browser test cannot show: an app the session does not hold can be
/// neither switched to nor reached, no UserSig of app A adds app B (not through either form), a
/// session that gains an app gets a new id, a link adds its app, and an identifier removed from
/// one app's admins loses that app only.
#[tokio::test]
async fn console_a_usersig_of_one_app_never_grants_another() {
    let app = spawn_app().await;
    let b = OtherApp::create(&app);
    let task_a = app.create_task("alice", 1).await;
    let task_b = b.create_task(&app, "bob", 2).await;
    let client = no_redirects();
    let (cookie_a, _) = sign_in(&app, "administrator").await;
    let get = |path: String, cookie: String| {
        let r = client.get(app.url(&path)).header("cookie", cookie);
        async move { r.send().await.unwrap() }
    };
    let apps_page = get("/admin".into(), cookie_a.clone()).await.text().await.unwrap();
    assert_eq!(apps_listed(&apps_page), [SDKAPPID]);
    let csrf = csrf_of(&apps_page);
    let post = |path: &str, cookie: &str, body: String| {
        client
            .post(app.url(path))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let form = |pairs: &[(&str, &str)]| {
        let mut f = form_urlencoded::Serializer::new(String::new());
        f.append_pair("csrf", &csrf);
        for (k, v) in pairs {
            f.append_pair(k, v);
        }
        f.finish()
    };
    let b_id = OtherApp::ID.to_string();

    // Not held: no switching to B, no page of B's.
    let r = post("/admin/apps/switch", &cookie_a, form(&[("sdkappid", &b_id)]))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        get(format!("/admin/recordings/{task_b}"), cookie_a.clone())
            .await
            .status(),
        404
    );
    // No UserSig of app A adds B: A's admin's own, one naming B signed with A's key, through the
    // apps page's form or the sign-in form.
    let a_sig = app.usersig("administrator");
    let forged = forged_usersig(OtherApp::ID, &app.keys.secret_key, "administrator");
    for sig in [&a_sig, &forged] {
        let fields = [
            ("sdkappid", b_id.as_str()),
            ("identifier", "administrator"),
            ("usersig", sig),
        ];
        let r = post("/admin/apps/add", &cookie_a, form(&fields)).await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("set-cookie").is_none());
        let r = post_sign_in(&app, OtherApp::ID, "administrator", sig, Some(&cookie_a)).await;
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("set-cookie").is_none());
    }
    let apps_page = get("/admin".into(), cookie_a.clone()).await.text().await.unwrap();
    assert_eq!(apps_listed(&apps_page), [SDKAPPID]);
    // The add form is an action like any other: another site's, or one without the token, is refused.
    let good = [("sdkappid", b_id.as_str()), ("identifier", "administrator")];
    let r = client
        .post(app.url("/admin/apps/add"))
        .header("cookie", &cookie_a)
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[good[0], good[1], ("usersig", &b.usersig("administrator"))]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // A link printed for B, used in the browser signed in to A, adds B: a new session id, the
    // old one dead, both apps reachable with the new one.
    let link = login_link_for(&app, OtherApp::ID, None);
    let token = link.split_once("token=").unwrap().1.to_owned();
    let page = get(link.trim_start_matches(&app.base).to_owned(), cookie_a.clone()).await;
    assert!(page.text().await.unwrap().contains("id=\"link-adds\""));
    let r = post("/admin/login/link", &cookie_a, format!("token={token}"))
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (cookie_ab, set) = session_cookie(&r);
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age="] {
        assert!(set.contains(attr), "{set}");
    }
    assert_ne!(cookie_ab, cookie_a);
    let old = get("/admin/recordings".into(), cookie_a.clone()).await;
    assert_eq!((old.status().as_u16(), location(&old).as_str()), (303, "/admin/login"));
    let apps_page = get("/admin".into(), cookie_ab.clone()).await.text().await.unwrap();
    assert_eq!(apps_listed(&apps_page), [SDKAPPID, OtherApp::ID]);
    for t in [&task_a, &task_b] {
        assert_eq!(
            get(format!("/admin/recordings/{t}"), cookie_ab.clone()).await.status(),
            200
        );
    }

    // B drops administrator from its admins: the session loses B, and only B.
    sqlx::query("UPDATE apps SET admin_identifiers = '{someone-else}' WHERE sdk_app_id = $1")
        .bind(OtherApp::ID)
        .execute(&app.state.db)
        .await
        .unwrap();
    tokio::time::sleep(localrecord::db::apps::AppCache::TTL + Duration::from_millis(200)).await;
    assert_eq!(
        get(format!("/admin/recordings/{task_b}"), cookie_ab.clone())
            .await
            .status(),
        404
    );
    assert_eq!(
        get(format!("/admin/recordings/{task_a}"), cookie_ab.clone())
            .await
            .status(),
        200
    );
    let apps_page = get("/admin".into(), cookie_ab.clone()).await.text().await.unwrap();
    assert_eq!(apps_listed(&apps_page), [SDKAPPID]);
    assert!(apps_page.contains(&format!("administrator · SdkAppId {SDKAPPID}")));
}

/// The recordings page searches by user, task id and start date (UTC days, `to` inclusive), alone
/// or together, and says what is wrong with a bad date.
#[tokio::test]
async fn console_searches_recordings_by_user_task_and_date() {
    let app = spawn_app().await;
    let alice_1 = app.create_task("alice", 10).await;
    let alice_2 = app.create_task("alice", 11).await;
    let bob = app.create_task("bob", 10).await;
    let dated = |task: &str, day: &str| {
        let (db, task, day) = (app.state.db.clone(), task.to_owned(), day.to_owned());
        async move {
            sqlx::query("UPDATE tasks SET start_time = $2::date + interval '13 hours' WHERE task_id = $1")
                .bind(task)
                .bind(day)
                .execute(&db)
                .await
                .unwrap();
        }
    };
    dated(&alice_1, "2026-03-01").await;
    dated(&alice_2, "2026-03-02").await;
    dated(&bob, "2026-03-03").await;
    let (cookie, _) = sign_in(&app, "administrator").await;
    let search = |q: String| {
        let r = app
            .client
            .get(app.url(&format!("/admin/recordings?{q}")))
            .header("cookie", cookie.clone());
        async move {
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            let html = r.text().await.unwrap().replace("&#x2f;", "/");
            (status, tasks_listed(&html), html)
        }
    };
    let found = |q: &str| {
        let (s, q) = (search(q.to_owned()), q.to_owned());
        async move {
            let (status, tasks, html) = s.await;
            assert_eq!(status, 200, "{q}: {html}");
            tasks
        }
    };
    assert_eq!(found("user=alice").await, [alice_2.as_str(), alice_1.as_str()]);
    assert_eq!(found("user=bob").await, [bob.as_str()]);
    assert_eq!(found(&format!("task={bob}")).await, [bob.as_str()]);
    assert_eq!(found("from=2026-03-02&to=2026-03-02").await, [alice_2.as_str()]);
    assert_eq!(found("from=2026-03-02").await, [bob.as_str(), alice_2.as_str()]);
    assert_eq!(found("to=2026-03-02").await, [alice_2.as_str(), alice_1.as_str()]);
    assert_eq!(found("class=10&user=alice").await, [alice_1.as_str()]);
    assert_eq!(found("user=carol").await, Vec::<String>::new());
    let (status, tasks, html) = search("from=March".into()).await;
    assert_eq!((status, tasks.len()), (400, 0));
    assert!(html.contains("from must be a date like"), "{html}");
}
