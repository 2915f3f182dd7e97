//! The screen source under Xvfb: a region of the screen (`param.area`) and a process's window
//! (`param.pid`), drawn where the layout puts them.

use super::*;
use crate::mixer::types::content_type as ct;
use std::path::Path;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt, CreateWindowAux, PropMode, WindowClass};
use x11rb::wrapper::ConnectionExt as _;

struct Xvfb(std::process::Child);

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM, so Xvfb removes its lock file.
        // SAFETY: signalling the child this test started.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// Starts Xvfb on a free display (skipping those whose TCP port is taken: a client may try it).
fn xvfb() -> (Xvfb, String) {
    let n = (200..500)
        .map(|i| i + std::process::id() % 300)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
                && std::net::TcpStream::connect(("127.0.0.1", 6000 + *n as u16)).is_err()
        })
        .unwrap();
    let display = format!(":{n}");
    let child = std::process::Command::new("Xvfb")
        .args([&display, "-screen", "0", "800x600x24", "-nolisten", "tcp", "-noreset"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("Xvfb installed");
    let x = Xvfb(child);
    for _ in 0..100 {
        if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() && x11rb::connect(Some(&display)).is_ok() {
            return (x, display);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("Xvfb {display} did not start");
}

/// A 320x240 window of `rgb` at (x, y), owned by this process (`_NET_WM_PID`).
fn window(display: &str, x: i16, y: i16, rgb: u32) -> impl Connection {
    let (conn, screen) = x11rb::connect(Some(display)).unwrap();
    let root = conn.setup().roots[screen].root;
    let win = conn.generate_id().unwrap();
    let aux = CreateWindowAux::new().background_pixel(rgb);
    conn.create_window(0, win, root, x, y, 320, 240, 0, WindowClass::INPUT_OUTPUT, 0, &aux)
        .unwrap();
    let pid = conn.intern_atom(false, b"_NET_WM_PID").unwrap().reply().unwrap().atom;
    conn.change_property32(PropMode::REPLACE, win, pid, AtomEnum::CARDINAL, &[std::process::id()])
        .unwrap();
    conn.map_window(win).unwrap();
    conn.sync().unwrap();
    conn
}

#[test]
fn a_screen_region_and_a_process_window_are_drawn_in_their_cells() {
    let (_x, display) = xvfb();
    let _win = window(&display, 400, 300, 0xff0000);
    let content = vec![
        // the window's middle, by screen coordinates
        item(
            ct::SCREEN,
            (0, 0, 320, 240),
            0,
            json!({ "display": display, "area": "480,360,160,120" }),
        ),
        // the whole window of this process, letterboxed
        item(
            ct::SCREEN,
            (320, 0, 320, 240),
            1,
            json!({ "display": display, "pid": std::process::id() }),
        ),
    ];
    let (m, probe) = start(cfg(640, 240, 10), content);
    wait_sources(&m, &["ok", "ok"]);
    let f = fresh_frame(&probe, 5);
    assert_shows(&f, 160, 120, RED, "the screen region");
    assert_shows(&f, 10, 10, RED, "the screen region's corner");
    assert_shows(&f, 480, 120, RED, "the process's window");
    m.destroy().unwrap();
}
