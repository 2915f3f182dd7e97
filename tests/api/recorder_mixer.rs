//! The CloudRoom mixer on `localrecord-recorder serve`'s local API, driven over HTTP as the
//! seed's JavaScript would: CreateLocMixer with a lavfi "camera" and an image, outputs added and
//! removed while recording, `LocMixerOutputInfo` read as Server-Sent Events, GetState's Mixers,
//! and the refusals with their codes. Outputs are checked with ffprobe.

use crate::media;
use crate::recorder_mixer_support::*;
use crate::recorder_support::*;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn a_mixer_over_http_with_events_state_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(
        NO_SERVER,
        &dir.path().join("rec"),
        &["--dst-dir", dir.path().to_str().unwrap()],
    )
    .await;
    let png = red_png(dir.path());
    let mut events = Events::open(&s).await;
    let create = json!({"mixerID": "1", "mixerCfg": cfg(),
        "mixerContent": [camera(0, 0, 320, 360), image(&png, 320, 0, 320, 360)]});
    assert_eq!(
        cmd(&s, "CreateLocMixer", create.clone()).await,
        json!({"Response": {"errCode": 0}})
    );
    assert_eq!(err_code(&cmd(&s, "CreateLocMixer", create).await), 906, "the id exists");
    let (mp4, flv) = (dir.path().join("1.mp4"), dir.path().join("1.flv"));
    let (mp4s, flvs) = (mp4.to_str().unwrap(), flv.to_str().unwrap());
    let add = json!({"mixerID": "1", "mixerOutput": [{"type": 0, "filename": mp4s}, {"type": 0, "filename": flvs}]});
    assert_eq!(err_code(&cmd(&s, "AddLocMixerOutput", add).await), 0);
    let mut seen = events.until(mp4s, 1).await;

    let st = cmd(&s, "GetState", json!({})).await;
    let m = &st["Response"]["Mixers"][0];
    assert_eq!((&m["mixerID"], &m["state"]), (&json!("1"), &json!(2)), "{st}");
    let names: Vec<&str> = m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["nameOrUrl"].as_str().unwrap())
        .collect();
    assert!(names.contains(&mp4s) && names.contains(&flvs), "{st}");
    assert_eq!(m["sources"].as_array().unwrap().len(), 2, "{st}");

    // Picture-in-picture: the image small in the corner, in the same files.
    let pip = json!({"mixerID": "1", "mixerContent": [camera(0, 0, 640, 360), image(&png, 470, 250, 160, 100)]});
    assert_eq!(err_code(&cmd(&s, "UpdateLocMixerContent", pip).await), 0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rm = json!({"mixerID": "1", "nameOrUrls": [flvs]});
    assert_eq!(err_code(&cmd(&s, "RemoveLocMixerOutput", rm).await), 0);
    seen.extend(events.until(flvs, 2).await);
    assert_eq!(err_code(&cmd(&s, "DestroyLocMixer", json!({"mixerID": "1"})).await), 0);
    seen.extend(events.until(mp4s, 2).await);
    assert_eq!(
        err_code(&cmd(&s, "DestroyLocMixer", json!({"mixerID": "1"})).await),
        1400
    );
    assert_eq!(cmd(&s, "GetState", json!({})).await["Response"]["Mixers"], json!([]));

    for (name, path) in [(mp4s, &mp4), (flvs, &flv)] {
        let states = states_of(&seen, name);
        assert_eq!(states.first(), Some(&0), "{name}: {states:?}");
        assert_eq!(states.last(), Some(&2), "{name}: {states:?}");
        assert!(
            states[1..states.len() - 1].iter().all(|s| *s == 1) && states.len() > 2,
            "{name}: {states:?}"
        );
        let last = seen.iter().rev().find(|e| e["nameOrUrl"] == name).unwrap();
        assert_eq!(last["mixerID"], "1");
        assert_eq!(
            last["outputInfo"]["fileSize"].as_u64(),
            Some(std::fs::metadata(path).unwrap().len())
        );
        assert!(media::format_duration(path) > 1.0, "{name}");
        assert_eq!(media::decode_errors(path), "", "{name}");
    }
    assert!(
        media::format_duration(&mp4) > media::format_duration(&flv),
        "the mp4 outlived the flv"
    );
    // Left/right first (the picture fills the right half), picture-in-picture at the end (the
    // picture only in its corner cell), in the same file.
    let end = media::format_duration(&mp4) - 0.3;
    assert!(is_red(pixel(&mp4, 0.2, 480, 100, 640)), "right half at the start");
    assert!(!is_red(pixel(&mp4, end, 480, 100, 640)), "right half at the end");
    assert!(is_red(pixel(&mp4, end, 550, 300, 640)), "the corner cell at the end");
}

#[tokio::test]
async fn mixer_refusals_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let web = "https://class.example.com";
    let allowed = dir.path().to_str().unwrap();
    let s = serve(
        NO_SERVER,
        &dir.path().join("rec"),
        &["--allow-origin", web, "--dst-dir", allowed],
    )
    .await;
    let http = reqwest::Client::new();
    let post = |cmd: &str, body: &str| {
        http.post(format!("{}{cmd}", s.base))
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    let bad = post("CreateLocMixer", "{not json").send().await.unwrap();
    assert_eq!(bad.status(), 200);
    let v: Value = bad.json().await.unwrap();
    assert_eq!((err_code(&v), &v["Response"]["Error"]["Code"]), (5, &json!(5)), "{v}");
    for (c, body) in [
        (
            "UpdateLocMixerContent",
            json!({"mixerID": "nope", "mixerContent": [camera(0, 0, 64, 64)]}),
        ),
        (
            "AddLocMixerOutput",
            json!({"mixerID": "nope", "mixerOutput": [{"type": 0, "filename": "/tmp/x.mp4"}]}),
        ),
        (
            "RemoveLocMixerOutput",
            json!({"mixerID": "nope", "nameOrUrls": ["/tmp/x.mp4"]}),
        ),
        ("DestroyLocMixer", json!({"mixerID": "nope"})),
    ] {
        assert_eq!(err_code(&cmd(&s, c, body).await), 1400, "{c}: unknown mixer");
    }
    // Outputs go only inside --dst-dir, never elsewhere, by any path.
    let c = json!({"mixerID": "r", "mixerCfg": cfg(), "mixerContent": [camera(0, 0, 64, 64)]});
    assert_eq!(err_code(&cmd(&s, "CreateLocMixer", c).await), 0);
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join("x.mp4");
    let sneaky = format!(
        "{allowed}/../{}/y.flv",
        elsewhere.path().file_name().unwrap().to_str().unwrap()
    );
    for f in [outside.to_str().unwrap(), "relative.mp4", sneaky.as_str()] {
        let add = json!({"mixerID": "r", "mixerOutput": [{"type": 0, "filename": f}]});
        let v = cmd(&s, "AddLocMixerOutput", add).await;
        assert_eq!(err_code(&v), 5, "{f}: {v}");
    }
    assert!(
        std::fs::read_dir(elsewhere.path()).unwrap().next().is_none(),
        "nothing was written outside"
    );
    assert_eq!(err_code(&cmd(&s, "DestroyLocMixer", json!({"mixerID": "r"})).await), 0);
    let big = json!({"mixerID": "1", "mixerCfg": {"width": 7680, "height": 4320, "frameRate": 15, "bitRate": 800000},
        "mixerContent": [camera(0, 0, 64, 64)]});
    assert_eq!(err_code(&cmd(&s, "CreateLocMixer", big).await), 903);

    // A web page from elsewhere is refused before anything runs; an allowed one may read.
    let evil = post("DestroyLocMixer", r#"{"mixerID":"1"}"#)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 403);
    let events = format!("{}Events", s.base);
    let r = http
        .get(&events)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http.get(&events).header("origin", web).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], web);
    assert_eq!(post("Events", "{}").send().await.unwrap().status(), 405, "GET only");
    let get = http.get(format!("{}CreateLocMixer", s.base)).send().await.unwrap();
    assert_eq!(get.status(), 405, "commands are POST only");
    // At most 16 event clients (one is open above).
    let mut open = vec![r];
    for _ in 0..15 {
        open.push(http.get(&events).send().await.unwrap());
    }
    assert!(open.iter().all(|r| r.status() == 200));
    assert_eq!(http.get(&events).send().await.unwrap().status(), 503);
    drop(open);
    // A closed client's place comes back once the recorder notices (at the latest on the next
    // keep-alive, 15 s).
    for _ in 0..40 {
        if http.get(&events).send().await.unwrap().status() == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("event client places never came back");
}
