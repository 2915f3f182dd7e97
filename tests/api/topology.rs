//! Scale-out, shown on the process topology of `deploy/topology.sh` (two `localrecord serve`
//! processes over one Postgres and one s3s-fs): an upload begun on one instance finishes on the
//! other; splices and callbacks run on either; an instance SIGKILLed in the middle of uploads and
//! of a claimed splice loses nothing. Every test tears the topology down (`down`) when it ends.

use crate::helpers::md5_hex;
use crate::media::{self, SliceSpec};
use crate::receiver::{Delivery, Receiver};
use crate::topology_support::{Inst, Topology};
use localrecord_client::server::ServerClient;
use localrecord_client::upload::{journal::Journal, Options};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const LONG: Duration = Duration::from_secs(240);

/// Real FLV slices of `secs` each (640x360, so a slice takes several 64 KiB PATCHes).
fn slices(dir: &Path, n: usize, secs: f64) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let spec = SliceSpec {
                secs,
                size: "640x360",
                tone: 300 + 100 * i as u32,
                ..Default::default()
            };
            media::make_slice(dir, &format!("{i}.flv"), &spec)
        })
        .collect()
}

async fn receiver(topo: &Topology, via: Inst) -> Receiver {
    let receiver = Receiver::default();
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", hook.local_addr().unwrap());
    receiver.serve(hook, &topo.webhook_secret());
    topo.register_callback(via, &url).await;
    receiver
}

async fn delivered(topo: &Topology, receiver: &Receiver, task: &str) -> Delivery {
    topo.wait_for(&format!("the callback of {task}"), LONG, || async {
        receiver.deliveries().into_iter().find(|d| d.task == task)
    })
    .await
}

/// The MP4 of a delivered result, fetched from instance `from` (whoever spliced it).
async fn fetch_mp4(topo: &Topology, from: Inst, d: &Delivery, dir: &Path) -> PathBuf {
    let url = topo.on(from, d.body["VideoOutputUrl"].as_str().expect("VideoOutputUrl"));
    let r = topo.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {url}");
    let path = dir.join(format!("{}.mp4", d.task));
    std::fs::write(&path, r.bytes().await.unwrap()).unwrap();
    path
}

/// Every splice and callback job finished (none queued or running).
async fn settled(topo: &Topology) {
    topo.wait_for("splice and callback jobs to settle", LONG, || async {
        let (open,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM jobs WHERE kind IN ('splice', 'callback') AND state IN ('queued', 'running')",
        )
        .fetch_one(&topo.db)
        .await
        .unwrap();
        (open == 0).then_some(())
    })
    .await
}

#[tokio::test]
async fn topology_upload_begun_on_one_instance_finishes_on_the_other() {
    let topo = Topology::up(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(&slices(dir.path(), 1, 6.0)[0]).unwrap();
    let task = topo.create_task(Inst::A, "alice", 1).await;
    let url_a = topo.tus_create(Inst::A, "alice", &task, 0, data.len()).await;
    let half = data.len() / 2;
    topo.tus_send(&url_a, "alice", &data, 0, half, 64 * 1024).await;
    // The recorder's next request lands on instance B, at the upload URL A handed out.
    let url_b = topo.on(Inst::B, &url_a);
    assert_ne!(url_a, url_b);
    assert_eq!(topo.tus_offset(&url_b, "alice").await, half);
    topo.tus_send(&url_b, "alice", &data, half, data.len(), 64 * 1024).await;
    assert_eq!(topo.tus_offset(&url_a, "alice").await, data.len());
    for i in [Inst::A, Inst::B] {
        let s = &topo.task_status(i, "alice", &task).await["Slices"][0];
        assert_eq!(
            (s["State"].as_str(), s["Md5"].as_str()),
            (Some("uploaded"), Some(md5_hex(&data).as_str())),
            "{s}"
        );
    }
    // The bytes in the S3 server are the file's.
    let slice = localrecord::db::slices::get(&topo.db, &task, 0).await.unwrap().unwrap();
    let object = Path::new(&topo.env["TOPO_S3_ROOT"])
        .join(&topo.env["TOPO_S3_BUCKET"])
        .join(&slice.object_key);
    assert_eq!(std::fs::read(&object).unwrap(), data, "{}", object.display());
}

#[tokio::test]
async fn topology_splices_and_callbacks_run_on_either_instance() {
    // One splice slot per instance, and a splice that holds it 8 s before publishing: while one
    // instance is busy with the first recording, the second can only go to the other.
    let topo = Topology::up(&[
        ("LOCALRECORD_CALLBACK_ALLOW_PRIVATE", "true"),
        ("LOCALRECORD_JOBS_CONCURRENCY", "1"),
        ("LOCALRECORD_JOBS_POLL_INTERVAL_MS", "100"),
        ("LOCALRECORD_FAILPOINTS", "splice-before-publish=sleep(8000)"),
    ])
    .await;
    let receiver = receiver(&topo, Inst::B).await;
    let dir = tempfile::tempdir().unwrap();
    let files = slices(dir.path(), 3, 3.0);
    let expected: f64 = files.iter().map(|f| media::video_secs(f)).sum();
    // Two classes, each recorded by the real client crate against one instance.
    let mut tasks = Vec::new();
    for (class, via) in [(1, Inst::A), (2, Inst::B)] {
        let client = ServerClient::new(&topo.url(via), topo.credentials("teacher"));
        let req = localrecord_client::api::CreateTask {
            class_id: class,
            ..Default::default()
        };
        let task = client.create_task(&req).await.unwrap();
        let journal = Journal::open(&dir.path().join(format!("journal-{class}"))).unwrap();
        for (i, f) in files.iter().enumerate() {
            let r = client
                .upload_slice(&journal, &task, i as i32, f, &Options::default())
                .await
                .unwrap();
            assert_eq!(r.md5, md5_hex(&std::fs::read(f).unwrap()));
        }
        tasks.push((task, via));
    }
    topo.stop_task(Inst::A, "teacher", &tasks[0].0, 3).await;
    let first = topo.wait_claimed(&format!("splice:{}", tasks[0].0)).await;
    topo.stop_task(Inst::B, "teacher", &tasks[1].0, 3).await;
    let second = topo.wait_claimed(&format!("splice:{}", tasks[1].0)).await;
    assert_eq!(second, first.other(), "the free instance takes the second splice");

    println!("| task | recorded on | spliced by | callback sent by | MP4 s (want {expected:.2}) |");
    println!("|---|---|---|---|---|");
    for (task, via) in &tasks {
        let d = delivered(&topo, &receiver, task).await;
        assert!(d.signature_ok && d.state == "done", "{d:?}");
        // An instance writes its log line after the work it tells of (the attempt's line once the
        // receiver has answered): wait for the lines rather than race them.
        let t = &topo;
        let logged = |message: &'static str| {
            t.wait_for(message, Duration::from_secs(30), move || {
                let found = t.logged(message, "task", task);
                async move { (!found.is_empty()).then_some(found) }
            })
        };
        let spliced = logged("recording spliced").await;
        let called = logged("callback attempt").await;
        assert_eq!(spliced.len(), 1, "one instance spliced {task}: {spliced:?}");
        let mp4 = fetch_mp4(&topo, spliced[0].other(), &d, dir.path()).await;
        let secs = media::video_secs(&mp4);
        assert!((secs - expected).abs() < 0.07, "{secs} s of video, want {expected}");
        println!("| {task} | {via:?} | {:?} | {called:?} | {secs:.2} |", spliced[0]);
    }
    settled(&topo).await;
    let all = receiver.deliveries();
    assert_eq!(all.len(), 2, "one callback per recording: {all:?}");
}

/// Starts a PATCH of `data[offset..]` on instance `i` that sends only `sent` bytes and then hangs
/// (the recorder is mid-chunk); the connection stays open until the instance dies.
async fn hanging_patch(topo: &Topology, url: &str, offset: usize, data: &[u8], sent: usize) -> tokio::net::TcpStream {
    let url = reqwest::Url::parse(url).unwrap();
    let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PATCH {} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nAuthorization: {}\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\nContent-Length: {}\r\n\r\n",
        url.path(),
        topo.auth("alice"),
        data.len() - offset
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&data[offset..offset + sent]).await.unwrap();
    s.flush().await.unwrap();
    s
}

#[tokio::test]
async fn topology_instance_killed_mid_work_loses_nothing() {
    // Short leases, so the survivor reaps the dead instance's claim in seconds; a splice that holds
    // its claim 6 s before publishing, so the kill finds it claimed.
    let mut topo = Topology::up(&[
        ("LOCALRECORD_CALLBACK_ALLOW_PRIVATE", "true"),
        ("LOCALRECORD_JOBS_LEASE_SECS", "3"),
        ("LOCALRECORD_JOBS_POLL_INTERVAL_MS", "100"),
        ("LOCALRECORD_FAILPOINTS", "splice-before-publish=sleep(6000)"),
    ])
    .await;
    let receiver = receiver(&topo, Inst::A).await;
    let dir = tempfile::tempdir().unwrap();
    let files = slices(dir.path(), 4, 5.0);
    let data: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let task = topo.create_task(Inst::A, "alice", 7).await;

    // Uploads: every slice half sent to A, one more PATCH hanging mid-body, then A dies.
    let mut urls = Vec::new();
    for (i, d) in data.iter().enumerate() {
        let url = topo.tus_create(Inst::A, "alice", &task, i as i32, d.len()).await;
        topo.tus_send(&url, "alice", d, 0, d.len() / 2, 64 * 1024).await;
        urls.push(url);
    }
    let half0 = data[0].len() / 2;
    let hanging = hanging_patch(&topo, &urls[0], half0, &data[0], 40_000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    topo.kill(Inst::A);
    drop(hanging);
    // The recorders carry on against B, from where B says each upload stands.
    for (i, d) in data.iter().enumerate() {
        let url = topo.on(Inst::B, &urls[i]);
        let at = topo.tus_offset(&url, "alice").await;
        assert!(
            at >= d.len() / 2,
            "slice {i}: B reports {at}, A had acknowledged {}",
            d.len() / 2
        );
        topo.tus_send(&url, "alice", d, at, d.len(), 64 * 1024).await;
    }
    topo.start(Inst::A);

    // The splice: the instance that claims it dies mid-job; the other must finish it.
    topo.stop_task(Inst::B, "alice", &task, data.len() as i32).await;
    let key = format!("splice:{task}");
    let holder = topo.wait_claimed(&key).await;
    topo.kill(holder);
    let survivor = holder.other();
    let d = delivered(&topo, &receiver, &task).await;
    settled(&topo).await;

    // Nothing lost: every slice with the uploader's MD5...
    let status = topo.task_status(survivor, "alice", &task).await;
    for (i, d) in data.iter().enumerate() {
        let s = &status["Slices"][i];
        assert_eq!(
            (s["State"].as_str(), s["Md5"].as_str()),
            (Some("uploaded"), Some(md5_hex(d).as_str())),
            "slice {i}: {s}"
        );
    }
    // ...the splice finished by the survivor, after the dead one's claim was reaped...
    let (state, _, attempts, last_error) = topo.job(&key).await.unwrap();
    assert_eq!((state.as_str(), attempts), ("done", 2), "{last_error:?}");
    assert!(last_error.is_some_and(|e| e.contains("lease expired")));
    assert_eq!(topo.logged("job started", "key", &key), vec![Inst::A, Inst::B]);
    assert_eq!(topo.logged("recording spliced", "task", &task), vec![survivor]);
    // ...an MP4 holding every frame...
    let mp4 = fetch_mp4(&topo, survivor, &d, dir.path()).await;
    let want: f64 = files.iter().map(|f| media::video_secs(f)).sum();
    let got = media::video_secs(&mp4);
    assert!((got - want).abs() < 0.07, "{got} s of video, want {want}");
    assert!(media::decode_errors(&mp4).is_empty());
    let ms = d.body["VideoOutputDuration"].as_i64().unwrap();
    assert!(
        (ms as f64 / 1000.0 - media::format_duration(&mp4)).abs() < 0.2,
        "{ms} ms"
    );
    // ...and exactly one callback, signed.
    let all: Vec<Delivery> = receiver.deliveries();
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(d.signature_ok && d.state == "done", "{d:?}");
    println!(
        "killed A mid-upload, then {holder:?} holding {key}; {survivor:?} finished it (attempt 2), MP4 {got:.2} s, one callback"
    );
}
