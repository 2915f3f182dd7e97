//! Test media made with the ffmpeg CLI, and the checks a user would run with ffprobe.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One recorder-like FLV slice: H.264 + AAC, timestamps starting at 0.
pub struct SliceSpec {
    pub secs: f64,
    pub size: &'static str,
    pub audio: bool,
    pub tone: u32,
}

impl Default for SliceSpec {
    fn default() -> Self {
        SliceSpec {
            secs: 4.0,
            size: "320x240",
            audio: true,
            tone: 440,
        }
    }
}

pub fn make_slice(dir: &Path, name: &str, spec: &SliceSpec) -> PathBuf {
    let path = dir.join(name);
    let mut c = Command::new("ffmpeg");
    c.args([
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size={}:rate=15", spec.size),
    ]);
    if spec.audio {
        c.args([
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency={}:sample_rate=44100", spec.tone),
        ]);
    }
    c.args([
        "-t",
        &spec.secs.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "30",
        "-pix_fmt",
        "yuv420p",
    ]);
    if spec.audio {
        c.args(["-c:a", "aac", "-b:a", "64k"]);
    }
    let out = c.args(["-f", "flv"]).arg(&path).output().expect("ffmpeg CLI installed");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    path
}

/// Seconds of content in a file as ffprobe sees it: the end of its last packet, any stream.
pub fn content_secs(path: &Path) -> f64 {
    ["v", "a"]
        .iter()
        .flat_map(|s| packets(path, s))
        .map(|p| p.pts + p.duration)
        .fold(0.0, f64::max)
}

#[derive(Debug, Clone, Copy)]
pub struct Pkt {
    pub pts: f64,
    pub dts: f64,
    pub duration: f64,
}

/// Packets of the first video ("v") or audio ("a") stream, in file order.
pub fn packets(path: &Path, stream: &str) -> Vec<Pkt> {
    let sel = format!("{stream}:0");
    probe_rows(
        path,
        &[
            "-select_streams",
            &sel,
            "-show_entries",
            "packet=pts_time,dts_time,duration_time",
        ],
    )
    .into_iter()
    .filter_map(|f| {
        let f: Vec<f64> = f.iter().map(|x| x.trim().parse().unwrap_or(f64::NAN)).collect();
        (f.len() == 3).then(|| Pkt {
            pts: f[0],
            dts: f[1],
            duration: if f[2].is_nan() { 0.0 } else { f[2] },
        })
    })
    .collect()
}

/// `ffprobe -v error ARGS -of csv=p=0 FILE`, one Vec of fields per line.
fn probe_rows(path: &Path, args: &[&str]) -> Vec<Vec<String>> {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

pub fn format_duration(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0.0)
}

pub fn stream_count(path: &Path) -> usize {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=index", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// What `ffmpeg -v error -i FILE -f null -` prints: empty for a clean file.
pub fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether the MP4's index (moov) comes before its data (mdat): faststart.
pub fn moov_first(path: &Path) -> bool {
    let data = std::fs::read(path).unwrap();
    let find = |tag: &[u8]| data.windows(4).position(|w| w == tag);
    matches!((find(b"moov"), find(b"mdat")), (Some(m), Some(d)) if m < d)
}

/// `ffmpeg -f concat -safe 0 -i list -c copy -movflags +faststart`, the baseline.
pub fn ffmpeg_concat(inputs: &[PathBuf], out: &Path) -> std::process::Output {
    let list = out.with_extension("txt");
    let text: String = inputs.iter().map(|p| format!("file '{}'\n", p.display())).collect();
    std::fs::write(&list, text).unwrap();
    Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "concat", "-safe", "0", "-i"])
        .arg(&list)
        .args(["-c", "copy", "-movflags", "+faststart"])
        .arg(out)
        .output()
        .unwrap()
}

/// (byte position, size) of the video keyframes of a file.
pub fn keyframes(path: &Path) -> Vec<(usize, usize)> {
    probe_rows(
        path,
        &["-select_streams", "v:0", "-show_entries", "packet=pos,size,flags"],
    )
    .into_iter()
    .filter(|f| f.len() == 3 && f[2].starts_with('K'))
    .map(|f| (f[1].parse().unwrap(), f[0].parse().unwrap()))
    .collect()
}

/// Whether each video packet of a file is a keyframe, in file order.
pub fn key_flags(path: &Path) -> Vec<bool> {
    probe_rows(path, &["-select_streams", "v:0", "-show_entries", "packet=flags"])
        .into_iter()
        .map(|f| f.first().is_some_and(|x| x.starts_with('K')))
        .collect()
}
