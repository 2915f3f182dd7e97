//! What the mixer tests share: test media made with the ffmpeg CLI, the layout cells, the SSE
//! event reader, and pixel sampling of decoded frames.

use crate::recorder_support::Served;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// No server is involved: mixers record locally.
pub const NO_SERVER: &str = "http://127.0.0.1:9";

pub fn err_code(v: &Value) -> i64 {
    v["Response"]["errCode"].as_i64().expect("errCode")
}

/// A red 320x240 PNG made by the ffmpeg CLI.
pub fn red_png(dir: &Path) -> String {
    let p = dir.join("red.png");
    let st = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=320x240",
            "-frames:v",
            "1",
        ])
        .arg(&p)
        .status()
        .unwrap();
    assert!(st.success());
    p.to_string_lossy().into_owned()
}

/// A lavfi test pattern standing in for a camera, in a cell.
pub fn camera(left: i32, top: i32, width: u32, height: u32) -> Value {
    json!({"type": 0, "left": left, "top": top, "width": width, "height": height, "keepAspectRatio": 1,
        "param": {"camid": "lavfi:testsrc2=size=640x360:rate=15"}})
}

pub fn image(path: &str, left: i32, top: i32, width: u32, height: u32) -> Value {
    json!({"type": 1, "left": left, "top": top, "width": width, "height": height, "param": {"resourceid": path}})
}

pub fn cfg() -> Value {
    json!({"width": 640, "height": 360, "frameRate": 15, "bitRate": 800000, "defaultQP": 28, "gop": 30})
}

/// The event stream: `(event, data)` pairs as they arrive.
pub struct Events {
    resp: reqwest::Response,
    buf: String,
}

impl Events {
    pub async fn open(s: &Served) -> Events {
        let resp = reqwest::get(format!("{}Events", s.base)).await.unwrap();
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Events {
            resp,
            buf: String::new(),
        }
    }

    /// The next event (comments and keep-alives skipped), or None after `secs` without one.
    pub async fn next(&mut self, secs: u64) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim().to_owned())
                };
                if let (Some(ev), Some(data)) = (field("event:"), field("data:")) {
                    return Some((ev, serde_json::from_str(&data).unwrap()));
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(secs), self.resp.chunk()).await;
            match chunk {
                Ok(Ok(Some(c))) => self.buf.push_str(&String::from_utf8_lossy(&c)),
                _ => return None,
            }
        }
    }

    /// Output events until `name` reports `state` (returned: every output event seen meanwhile).
    pub async fn until(&mut self, name: &str, state: i64) -> Vec<Value> {
        let mut seen = Vec::new();
        while let Some((ev, data)) = self.next(60).await {
            if ev != "LocMixerOutputInfo" {
                continue;
            }
            let done = data["nameOrUrl"] == name && data["outputInfo"]["state"] == state;
            seen.push(data);
            if done {
                return seen;
            }
        }
        panic!("{name} never reached state {state}: {seen:?}");
    }
}

/// The states one output went through, in order.
pub fn states_of(events: &[Value], name: &str) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e["nameOrUrl"] == name)
        .map(|e| e["outputInfo"]["state"].as_i64().unwrap())
        .collect()
}

/// The RGB colour at (x, y) of the frame shown at `secs`.
pub fn pixel(path: &Path, secs: f64, x: usize, y: usize, width: usize) -> (u8, u8, u8) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &secs.to_string(), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    let i = (y * width + x) * 3;
    assert!(out.stdout.len() > i + 2, "no frame at {secs} s in {}", path.display());
    (out.stdout[i], out.stdout[i + 1], out.stdout[i + 2])
}

/// Red as the encoder leaves it (4:2:0 and quantisation blur the exact value).
pub fn is_red((r, g, b): (u8, u8, u8)) -> bool {
    r > 180 && g < 80 && b < 80
}

/// The stream types in a file (ts lists its streams twice, under its program too).
pub fn codec_types(path: &Path) -> std::collections::BTreeSet<String> {
    crate::media::stream_field(path, "codec_type")
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect()
}
