//! Mixer benchmark (not a test): what a CloudRoom layout costs the teacher's machine. The
//! recorder's command line (`localrecord-recorder record --layout`) composes a 1280x720 15 fps
//! canvas from two sources, FFmpeg's lavfi testsrc2 as the "camera" (full canvas) and a PNG
//! picture-in-picture (426x240, bottom right), for BENCH_MIX_SECS (default 60) into three
//! outputs (mp4, ts, flv) from one encode, no sound. The baseline is the ffmpeg CLI doing the
//! same composition (`-filter_complex` scale + overlay, paced with `-re`) with one encode into
//! the same three outputs through the tee muxer. Both run as child processes under
//! `/usr/bin/time`: CPU (user + system) and peak RSS (ru_maxrss) of each, and the ratios.
//!
//! Run: `deploy/localrecord.sh bench` or `cargo bench --bench mixer`.

use std::path::Path;
use std::process::Command;

const W: u32 = 1280;
const H: u32 = 720;
const FPS: u32 = 15;

/// `BENCH_RECORDER`, else the `localrecord-recorder` of this benchmark's profile, built first
/// (it is another package's binary).
fn recorder() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("BENCH_RECORDER") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.args([
        "build",
        "-q",
        "-p",
        "localrecord-client",
        "--bin",
        "localrecord-recorder",
    ]);
    if dir.ends_with("release") {
        build.arg("--release");
    }
    assert!(
        build.status().expect("cargo runs").success(),
        "building localrecord-recorder failed"
    );
    dir.join("localrecord-recorder")
}

/// (wall s, CPU s, peak RSS MiB) of a command run under `/usr/bin/time`.
fn timed(cmd: &mut Command) -> (f64, f64, f64) {
    let args: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "TIME %e %U %S %M"])
        .args(&args)
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .expect("/usr/bin/time");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {err}");
    let at = err.rfind("TIME ").expect("time's line");
    let line = err[at..].lines().next().unwrap_or_default();
    let f: Vec<f64> = line[5..].split_whitespace().map(|v| v.parse().unwrap()).collect();
    (f[0], f[1] + f[2], f[3] / 1024.0)
}

fn png(dir: &Path) -> String {
    let p = dir.join("pip.png");
    let st = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "smptebars=size=426x240",
            "-frames:v",
            "1",
        ])
        .arg(&p)
        .status()
        .unwrap();
    assert!(st.success());
    p.to_string_lossy().into_owned()
}

fn probe_secs(p: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0.0)
}

fn main() {
    let secs: u64 = std::env::var("BENCH_MIX_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir_in("target").unwrap();
    let img = png(dir.path());
    let (px, py) = (W - 426 - 20, H - 240 - 20);
    let layout = serde_json::json!({
    "mixerCfg": {"width": W, "height": H, "frameRate": FPS, "bitRate": 1_000_000, "defaultQP": 26, "gop": FPS * 2},
    "mixerContent": [
        {"type": 0, "left": 0, "top": 0, "width": W, "height": H,
         "param": {"camid": format!("lavfi:testsrc2=size={W}x{H}:rate={FPS}")}},
        {"type": 1, "left": px, "top": py, "width": 426, "height": 240, "param": {"resourceid": img}},
    ]});
    let lpath = dir.path().join("layout.json");
    std::fs::write(&lpath, layout.to_string()).unwrap();
    println!("mixer benchmark: {secs} s, {W}x{H} {FPS} fps, camera (testsrc2) + PNG overlay, outputs mp4 + ts + flv, 1 Mbit/s H.264, no sound");

    let ours: Vec<_> = ["mp4", "ts", "flv"]
        .iter()
        .map(|e| dir.path().join(format!("ours.{e}")))
        .collect();
    let mut rec = Command::new(recorder());
    rec.args(["record", "--no-audio", "--duration", &secs.to_string(), "--layout"])
        .arg(&lpath)
        .arg("--data-dir")
        .arg(dir.path().join("rec"))
        .env("RUST_LOG", "warn");
    for o in &ours {
        rec.arg("--output").arg(o);
    }
    let (o_wall, o_cpu, o_mb) = timed(&mut rec);

    let cli: Vec<_> = ["mp4", "ts", "flv"]
        .iter()
        .map(|e| dir.path().join(format!("cli.{e}")))
        .collect();
    let tee = format!(
        "[f=mp4:movflags=+frag_keyframe+empty_moov+default_base_moof]{}|[f=mpegts:bsfs/v=dump_extra]{}|[f=flv]{}",
        cli[0].display(),
        cli[1].display(),
        cli[2].display()
    );
    let filter = format!("[1:v]scale=426:240[p];[0:v][p]overlay={px}:{py}:shortest=1,format=yuv420p[v]");
    let mut ff = Command::new("ffmpeg");
    ff.args([
        "-v",
        "error",
        "-y",
        "-re",
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size={W}x{H}:rate={FPS}"),
    ])
    .args(["-re", "-loop", "1", "-framerate", &FPS.to_string(), "-i", &img])
    .args(["-filter_complex", &filter, "-map", "[v]", "-t", &secs.to_string()])
    .args([
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
        "-crf",
        "26",
    ])
    .args([
        "-maxrate",
        "1M",
        "-bufsize",
        "1M",
        "-g",
        &(FPS * 2).to_string(),
        "-bf",
        "0",
        // One encode for three muxers: mp4 and flv want the headers out of band, ts in band.
        "-flags",
        "+global_header",
    ])
    .args(["-f", "tee", &tee]);
    let (f_wall, f_cpu, f_mb) = timed(&mut ff);

    let durs = |v: &[std::path::PathBuf]| {
        v.iter()
            .map(|p| format!("{:.1}", probe_secs(p)))
            .collect::<Vec<_>>()
            .join("/")
    };
    println!("| | wall | CPU | CPU % of a core | peak RSS | mp4/ts/flv seconds |");
    println!("|---|---|---|---|---|---|");
    let row = |n: &str, w: f64, c: f64, m: f64, d: String| {
        println!(
            "| {n} | {w:.1} s | {c:.1} s | {:.1}% | {m:.1} MiB | {d} |",
            100.0 * c / w.max(0.001)
        )
    };
    row("localrecord-recorder record --layout", o_wall, o_cpu, o_mb, durs(&ours));
    row("ffmpeg -filter_complex overlay -f tee", f_wall, f_cpu, f_mb, durs(&cli));
    println!(
        "ratio ours/CLI: CPU {:.2}, peak RSS {:.2}",
        o_cpu / f_cpu.max(0.001),
        o_mb / f_mb.max(0.001)
    );
}
