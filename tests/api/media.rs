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

/// How a slice is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoder {
    /// What the tests always used: x264 ultrafast, a keyframe every 2 s, AAC 64 kb/s 44.1 kHz mono.
    Test,
    /// Exactly the recorder's encoder (`client/src/engine/encode.rs`): x264 veryfast zerolatency
    /// (no B-frames), 1 Mbit/s, a keyframe every 2 s, forced IDR; AAC 128 kb/s stereo 44.1 kHz.
    Recorder,
    /// The ffmpeg CLI's defaults: x264 medium with 3 B-frames (PTS start two frames after DTS),
    /// keyint 250; AAC with 1024 samples of priming, 48 kHz mono.
    Foreign,
}

pub fn make_slice(dir: &Path, name: &str, spec: &SliceSpec) -> PathBuf {
    make_slice_with(dir, name, spec, Encoder::Test)
}

pub fn make_slice_with(dir: &Path, name: &str, spec: &SliceSpec, enc: Encoder) -> PathBuf {
    let path = dir.join(name);
    let rate = if enc == Encoder::Foreign { 48000 } else { 44100 };
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
            &format!("sine=frequency={}:sample_rate={rate}", spec.tone),
        ]);
    }
    c.args(["-t", &spec.secs.to_string(), "-pix_fmt", "yuv420p", "-c:v", "libx264"]);
    match enc {
        Encoder::Test => c.args(["-preset", "ultrafast", "-g", "30"]),
        Encoder::Recorder => c.args([
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-forced-idr",
            "1",
            "-b:v",
            "1000k",
            "-maxrate",
            "1500k",
            "-g",
            "30",
        ]),
        Encoder::Foreign => c.args(["-b:v", "1000k"]),
    };
    if spec.audio {
        match enc {
            Encoder::Test => c.args(["-c:a", "aac", "-b:a", "64k"]),
            Encoder::Recorder => c.args(["-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "44100"]),
            Encoder::Foreign => c.args(["-c:a", "aac", "-ac", "1", "-ar", "48000"]),
        };
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

/// Seconds of video frames in a 15 fps file (frames x 1/15 s): what a gapless splice of slices
/// lasts, whatever audio a slice carries past its video (AAC priming and padding).
pub fn video_secs(path: &Path) -> f64 {
    packets(path, "v").len() as f64 / 15.0
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

/// Whether ffprobe finds a recording in `path`: an H.264, AAC or MP3 stream. Encrypted bytes are
/// random to it and now and then pass for something else (an LRC subtitle, H.263), which reveals
/// nothing; only the codecs a recording has count.
pub fn reveals_media(path: &Path) -> bool {
    codec_names(path)
        .iter()
        .any(|c| ["h264", "aac", "mp3"].contains(&c.as_str()))
}

/// One field of every stream (`codec_name`, `codec_type`, `index`...), one line per stream as
/// ffprobe prints them (none for a file it cannot read).
pub fn stream_field(path: &Path, field: &str) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            &format!("stream={field}"),
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|c| c.trim().to_owned())
        .collect()
}

/// The streams' codec names, as ffprobe reads them (none for a file it cannot read).
pub fn codec_names(path: &Path) -> Vec<String> {
    stream_field(path, "codec_name")
}

pub fn stream_count(path: &Path) -> usize {
    stream_field(path, "index").len()
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

/// A packet as `ffprobe -show_packets -show_data_hash md5 -of json` reports it.
#[derive(Debug, Clone)]
pub struct ProbedPacket {
    pub video: bool,
    pub pts: f64,
    pub dts: f64,
    pub duration: f64,
    pub hash: String,
}

/// Every audio and video packet of a file, in file order.
pub fn probe_packets(path: &Path) -> Vec<ProbedPacket> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_packets", "-show_data_hash", "md5", "-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let num = |p: &serde_json::Value, k: &str| p[k].as_str().and_then(|x| x.parse().ok()).unwrap_or(f64::NAN);
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| matches!(p["codec_type"].as_str(), Some("video" | "audio")))
        .map(|p| ProbedPacket {
            video: p["codec_type"] == "video",
            pts: num(p, "pts_time"),
            dts: num(p, "dts_time"),
            duration: num(p, "duration_time"),
            hash: p["data_hash"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// The MD5 of every decoded frame (`ffmpeg -f framemd5`), header lines left out.
pub fn frame_hashes(path: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}
