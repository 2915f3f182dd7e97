//! Capture of a real X11 window under Xvfb: found by its process (AppProc) or id (Wnd), cut to a
//! region, and what the slices show is what the window shows.

use crate::helpers::*;
use crate::recorder_support::*;
use localrecord_client::capture::{AudioSource, VideoSource};
use localrecord_client::recorder::{Recorder, StartParams};
use std::path::Path;
use std::time::Duration;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ChangeGCAux, ConnectionExt, CreateGCAux, CreateWindowAux, PropMode, Rectangle, WindowClass,
};
use x11rb::wrapper::ConnectionExt as _;

struct Xvfb {
    child: std::process::Child,
    display: String,
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM, so Xvfb removes its /tmp/.X<n>-lock (SIGKILL would leave it behind).
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// A display number free here. X clients that find no socket for `:n` try TCP port 6000 + n, and
/// a service there that never answers the X handshake (Redis on 6379 is display :379) would hang
/// them: numbers whose port anything listens on are skipped too.
fn free_display() -> u32 {
    (100..400)
        .map(|i| i + (std::process::id() % 300))
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
                && std::net::TcpStream::connect(("127.0.0.1", 6000 + *n as u16)).is_err()
        })
        .unwrap()
}

fn xvfb() -> Xvfb {
    let n = free_display();
    let display = format!(":{n}");
    // -noreset: by default Xvfb resets when its last client leaves, and the readiness probe below
    // is such a client; a connection made during the reset fails.
    let mut child = std::process::Command::new("Xvfb")
        .args([&display, "-screen", "0", "800x600x24", "-nolisten", "tcp", "-noreset"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("Xvfb installed (apt-get install xvfb)");
    // Only once its socket exists: before that a client falls back to TCP.
    let socket = format!("/tmp/.X11-unix/X{n}");
    for _ in 0..100 {
        if Path::new(&socket).exists() && x11rb::connect(Some(&display)).is_ok() {
            return Xvfb { child, display };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("Xvfb {display} did not start");
}

/// A 320x240 red window owned by this process, with a 100x50 blue block in its top-left corner.
fn window(display: &str) -> (x11rb::rust_connection::RustConnection, u32) {
    let (conn, screen) = x11rb::connect(Some(display)).unwrap();
    let root = conn.setup().roots[screen].root;
    let win = conn.generate_id().unwrap();
    let aux = CreateWindowAux::new().background_pixel(0xff0000);
    conn.create_window(0, win, root, 40, 30, 320, 240, 0, WindowClass::INPUT_OUTPUT, 0, &aux)
        .unwrap();
    let pid_atom = conn.intern_atom(false, b"_NET_WM_PID").unwrap().reply().unwrap().atom;
    conn.change_property32(
        PropMode::REPLACE,
        win,
        pid_atom,
        AtomEnum::CARDINAL,
        &[std::process::id()],
    )
    .unwrap();
    conn.map_window(win).unwrap();
    conn.sync().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let gc = conn.generate_id().unwrap();
    conn.create_gc(gc, win, &CreateGCAux::new().foreground(0x0000ff))
        .unwrap();
    conn.change_gc(gc, &ChangeGCAux::new().foreground(0x0000ff)).unwrap();
    let block = Rectangle {
        x: 0,
        y: 0,
        width: 100,
        height: 50,
    };
    conn.poly_fill_rectangle(win, gc, &[block]).unwrap();
    conn.sync().unwrap();
    (conn, win)
}

/// (width, height, RGB of pixel x,y) of the first frame of a video file.
fn pixel(file: &Path, x: usize, y: usize) -> (usize, usize, [u8; 3]) {
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .unwrap();
    let dims = String::from_utf8(probe.stdout).unwrap();
    let mut d = dims.trim().split(',').map(|v| v.parse::<usize>().unwrap());
    let (w, h) = (d.next().unwrap(), d.next().unwrap());
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    let i = (y * w + x) * 3;
    (w, h, [out.stdout[i], out.stdout[i + 1], out.stdout[i + 2]])
}

fn near(got: [u8; 3], want: [u8; 3]) -> bool {
    got.iter().zip(want).all(|(g, w)| (*g as i32 - w as i32).abs() < 40)
}

async fn record_window(app: &TestApp, display: &str, dir: &Path, p: StartParams) -> std::path::PathBuf {
    let mut s = settings(&app.base, dir);
    s.video = VideoSource::X11 {
        display: Some(display.to_owned()),
    };
    // PulseAudio, else ALSA, else (on a headless machine) a silent track.
    s.audio = AudioSource::Auto;
    let rec = Recorder::open(s).unwrap();
    rec.init(creds(app, "alice")).await.unwrap();
    let task = rec.start(p).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    rec.stop().await.unwrap();
    // EnableUpload false: the slice stays in the data directory.
    localrecord_client::engine::slice_path(&rec.book().task_dir(&task), 0)
}

#[tokio::test]
async fn a_real_x11_window_is_recorded_by_process_name_and_by_id_with_a_region() {
    let app = spawn_app().await;
    let x = xvfb();
    let (_conn, win) = window(&x.display);
    let dir = tempfile::tempdir().unwrap();
    let me = std::fs::read_to_string("/proc/self/comm").unwrap().trim().to_owned();
    let base = StartParams {
        class_id: Some(3006),
        enable_audio: Some(false),
        enable_upload: Some(false),
        ..Default::default()
    };

    let by_proc = StartParams {
        app_proc: Some(me.clone()),
        enable_audio: Some(true),
        ..base.clone()
    };
    let file = record_window(&app, &x.display, &dir.path().join("a"), by_proc).await;
    let (w, h, centre) = pixel(&file, 200, 150);
    assert_eq!((w, h), (320, 240), "the whole window");
    assert!(near(centre, [255, 0, 0]), "the window is red there: {centre:?}");
    let (_, _, corner) = pixel(&file, 20, 20);
    assert!(near(corner, [0, 0, 255]), "and blue in the corner: {corner:?}");
    assert!(crate::media::content_secs(&file) > 2.0);
    let sound = crate::media::packets(&file, "a");
    let secs = sound.last().map(|p| p.pts + p.duration).unwrap_or(0.0);
    assert!(secs > 2.0, "an audio track, from a device or silent: {secs} s");

    let by_id = StartParams {
        wnd: Some(win),
        x: Some(0),
        y: Some(0),
        width: Some(100),
        height: Some(50),
        ..base.clone()
    };
    let file = record_window(&app, &x.display, &dir.path().join("b"), by_id).await;
    let (w, h, px) = pixel(&file, 50, 25);
    assert_eq!((w, h), (100, 50), "the region");
    assert!(near(px, [0, 0, 255]), "the region is the blue block: {px:?}");

    // Bad targets are the caller's bad parameters.
    let mut s = settings(&app.base, &dir.path().join("c"));
    s.video = VideoSource::X11 {
        display: Some(x.display.clone()),
    };
    let rec = Recorder::open(s).unwrap();
    rec.init(creds(&app, "alice")).await.unwrap();
    for (p, why) in [
        (
            StartParams {
                app_proc: Some("no-such-app.exe".into()),
                ..base.clone()
            },
            "unknown process",
        ),
        (
            StartParams {
                wnd: Some(0x7fff_fff0),
                ..base.clone()
            },
            "unknown window",
        ),
        (
            StartParams {
                wnd: Some(win),
                width: Some(400),
                ..base.clone()
            },
            "region too wide",
        ),
        (base.clone(), "no AppProc, no Wnd"),
    ] {
        let e = rec.start(p).await.expect_err(why);
        assert_eq!(e.code, -10000, "{why}: {e}");
    }
}
