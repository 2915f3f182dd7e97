//! Splice benchmark (not a test) on what users send: `localrecord splice` against
//! `ffmpeg -f concat -safe 0 -i list -c copy -movflags +faststart` on the same slices, alternating
//! in the same run, 3 runs each. Prints median wall time, peak RSS and the ratios per slice set.
//!
//! Slice sets (one 300 s slice per set is made once with the ffmpeg CLI, cached under
//! `$CARGO_TARGET_DIR/bench-media`, and hard-linked N times; every slice is byte-for-byte what the
//! encoder wrote, so the splice does the full work on each):
//! - `recorder`: exactly the recorder's encoder (`client/src/engine/encode.rs`): 1280x720, 15 fps,
//!   libx264 `-preset veryfast -tune zerolatency -forced-idr 1`, 1 Mbit/s (maxrate 1.5 Mbit/s,
//!   which x264 ignores without a bufsize, as in the recorder), a keyframe every 2 s (`-g 30`), no
//!   B-frames; AAC 128 kb/s stereo 44.1 kHz.
//! - `foreign`: the ffmpeg CLI's defaults for libx264 (preset medium, 3 B-frames, keyint 250) at
//!   1 Mbit/s and its AAC encoder (1024 samples of priming) at 48 kHz mono.
//!
//! Peak RSS and wall time of both programs come from `/usr/bin/time -f '%e %M'` wrapping each
//! process (the kernel's ru_maxrss of the child, same method for both).
//!
//! Also `localrecord splice --verdicts FILE` after a first untimed run kept the keyframe verdicts:
//! the server's whole splice once slices were checked as they landed (no keyframe decoded again).
//!
//! Also `localrecord splice --prepared` (what the server does on the fs store: each slice prepared
//! as it lands, only the index written at the stop): the stop's share beside the CLI's whole run,
//! and one slice's preparation.
//!
//! Run: `cargo bench --bench splice`. `BENCH_HOURS=1` (default: 12 slices), `3` (36 slices) or
//! `1,3`; `BENCH_SETS=recorder,foreign` (default both); `BENCH_SLICE_SECS` (default 300);
//! `BENCH_RUNS` (default 3).

#[path = "../api/media.rs"]
#[allow(dead_code)]
mod media;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_localrecord");

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| d.to_owned())
}

/// One cached slice of a set, made by the tests' own media helper (`media::Encoder`), so the
/// bench and the gapless tests encode exactly alike.
fn make_slice(path: &Path, set: &str, secs: u64) {
    if path.exists() {
        return;
    }
    println!(
        "making a {secs} s {set} slice with the ffmpeg CLI (cached in {})",
        path.display()
    );
    let enc = match set {
        "recorder" => media::Encoder::Recorder,
        "foreign" => media::Encoder::Foreign,
        other => panic!("unknown slice set {other} (recorder, foreign)"),
    };
    let spec = media::SliceSpec {
        secs: secs as f64,
        size: "1280x720",
        audio: true,
        tone: 440,
    };
    let dir = path.parent().unwrap();
    let part = format!("{}.part.flv", path.file_stem().unwrap().to_string_lossy());
    let tmp = media::make_slice_with(dir, &part, &spec, enc);
    std::fs::rename(tmp, path).unwrap();
}

/// Runs a command under `/usr/bin/time`; returns (wall seconds, peak RSS MiB).
fn measure(cmd: &[&std::ffi::OsStr], work: &Path) -> (f64, f64) {
    let (t, m, _) = measure_out(cmd, work);
    (t, m)
}

/// [`measure`], with what the command printed.
fn measure_out(cmd: &[&std::ffi::OsStr], work: &Path) -> (f64, f64, String) {
    let report = work.join("time.txt");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M", "-o"])
        .arg(&report)
        .args(cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("/usr/bin/time");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&report).unwrap();
    let last = text.lines().last().unwrap_or_default();
    let mut f = last.split_whitespace().map(|x| x.parse::<f64>().unwrap());
    (
        f.next().unwrap(),
        f.next().unwrap() / 1024.0,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn probe(path: &Path, args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Seconds of video frames in a file: the number of video packets times the frame duration.
fn video_frames(path: &Path) -> u64 {
    probe(
        path,
        &[
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
        ],
    )
    .parse()
    .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

struct Row {
    label: String,
    ours_t: f64,
    ours_m: f64,
    /// The same with `LOCALRECORD_SPLICE_VERIFY=anomalies` (keyframes decoded only when suspect).
    anom_t: f64,
    anom_m: f64,
    cli_t: f64,
    cli_m: f64,
    /// `splice --verdicts FILE` with the verdicts an earlier (untimed) run kept: what the server's
    /// whole splice does once the slices' keyframes were checked as they landed.
    kept_t: f64,
    kept_m: f64,
    ours_dur: f64,
    cli_dur: f64,
    frames_secs: f64,
    /// `splice --prepared`: the whole process, its peak RSS, the median slice's preparation and
    /// the stop's share (median over runs), and the output's duration.
    prep_t: f64,
    prep_m: f64,
    prep_slice_s: f64,
    stop_s: f64,
    prep_dur: f64,
}

fn run_set(media: &Path, set: &str, secs: u64, hours: u64, runs: usize) -> Row {
    let slice = media.join(format!("{set}-{secs}s.flv"));
    make_slice(&slice, set, secs);
    let n = (hours * 3600).div_ceil(secs) as usize;
    let work = tempfile::tempdir_in(media).unwrap();
    let inputs: Vec<PathBuf> = (0..n)
        .map(|i| {
            let p = work.path().join(format!("{i:02}.flv"));
            std::fs::hard_link(&slice, &p).unwrap();
            p
        })
        .collect();
    let list = work.path().join("list.txt");
    let text: String = inputs.iter().map(|p| format!("file '{}'\n", p.display())).collect();
    std::fs::write(&list, text).unwrap();
    let ours_out = work.path().join("ours.mp4");
    let cli_out = work.path().join("ffmpeg.mp4");
    let total_mb = std::fs::metadata(&slice).unwrap().len() as f64 * n as f64 / (1 << 20) as f64;
    let frames_secs = video_frames(&slice) as f64 * n as f64 / 15.0;
    println!("{set}: {n} slices x {secs} s ({hours} h), {total_mb:.0} MiB of FLV; {frames_secs:.2} s of video frames");

    let mut ours_cmd: Vec<&std::ffi::OsStr> = vec![BIN.as_ref(), "splice".as_ref(), "-o".as_ref(), ours_out.as_ref()];
    ours_cmd.extend(inputs.iter().map(|p| p.as_os_str()));
    let cli_cmd: Vec<&std::ffi::OsStr> = ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i"]
        .iter()
        .map(|s| s.as_ref())
        .chain([list.as_os_str()])
        .chain(["-c", "copy", "-movflags", "+faststart"].iter().map(|s| s.as_ref()))
        .chain([cli_out.as_os_str()])
        .collect();
    let (mut ot, mut ct, mut om, mut cm) = (vec![], vec![], 0f64, 0f64);
    let (mut at, mut am) = (vec![], 0f64);
    let prep_out = work.path().join("prepared.mp4");
    let mut prep_cmd: Vec<&std::ffi::OsStr> = vec![
        BIN.as_ref(),
        "splice".as_ref(),
        "--prepared".as_ref(),
        "-o".as_ref(),
        prep_out.as_ref(),
    ];
    prep_cmd.extend(inputs.iter().map(|p| p.as_os_str()));
    let (mut pt, mut pm, mut ps, mut pstop) = (vec![], 0f64, vec![], vec![]);
    let verdicts = work.path().join("verdicts.json");
    let kept_out = work.path().join("kept.mp4");
    let mut kept_cmd: Vec<&std::ffi::OsStr> = vec![BIN.as_ref(), "splice".as_ref(), "--verdicts".as_ref()];
    kept_cmd.extend([verdicts.as_os_str(), "-o".as_ref(), kept_out.as_os_str()]);
    kept_cmd.extend(inputs.iter().map(|p| p.as_os_str()));
    // The first read decodes every keyframe and keeps the verdicts, as the server does at landing.
    measure(&kept_cmd, work.path());
    let (mut kt, mut km) = (vec![], 0f64);
    for _ in 0..runs {
        let (t, m) = measure(&kept_cmd, work.path());
        kt.push(t);
        km = km.max(m);
        let (t, m) = measure(&ours_cmd, work.path());
        ot.push(t);
        om = om.max(m);
        std::env::set_var("LOCALRECORD_SPLICE_VERIFY", "anomalies");
        let (t, m) = measure(&ours_cmd, work.path());
        std::env::remove_var("LOCALRECORD_SPLICE_VERIFY");
        at.push(t);
        am = am.max(m);
        let (t, m) = measure(&cli_cmd, work.path());
        ct.push(t);
        cm = cm.max(m);
        let (t, m, out) = measure_out(&prep_cmd, work.path());
        pt.push(t);
        pm = pm.max(m);
        let v: serde_json::Value = serde_json::from_str(&out).expect("splice --prepared prints JSON");
        let per: Vec<f64> = v["prepare_ms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() / 1000.0)
            .collect();
        ps.push(median(per));
        pstop.push(v["stop_ms"].as_f64().unwrap() / 1000.0);
    }
    let dur = |p: &Path| probe(p, &["-show_entries", "format=duration"]).parse().unwrap_or(0.0);
    Row {
        label: format!("{set} {hours} h ({n} x {secs} s)"),
        ours_t: median(ot),
        ours_m: om,
        anom_t: median(at),
        anom_m: am,
        cli_t: median(ct),
        cli_m: cm,
        kept_t: median(kt),
        kept_m: km,
        ours_dur: dur(&ours_out),
        cli_dur: dur(&cli_out),
        frames_secs,
        prep_t: median(pt),
        prep_m: pm,
        prep_slice_s: median(ps),
        stop_s: median(pstop),
        prep_dur: dur(&prep_out),
    }
}

fn main() {
    let secs: u64 = env_or("BENCH_SLICE_SECS", "300").parse().unwrap();
    let runs: usize = env_or("BENCH_RUNS", "3").parse().unwrap();
    let hours: Vec<u64> = env_or("BENCH_HOURS", "1")
        .split(',')
        .map(|h| h.trim().parse().unwrap())
        .collect();
    let sets = env_or("BENCH_SETS", "recorder,foreign");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let media = target.join("bench-media");
    std::fs::create_dir_all(&media).unwrap();
    let mut rows = Vec::new();
    for h in &hours {
        for set in sets.split(',').map(str::trim) {
            rows.push(run_set(&media, set, secs, *h, runs));
        }
    }
    println!();
    println!("median of {runs} runs each, alternating; peak RSS = max ru_maxrss over the runs (/usr/bin/time)");
    println!(
        "| slices | ffmpeg concat -c copy +faststart | ours, keyframes checked at landing (verdicts kept: the server's whole splice) | ours, every keyframe decoded (a first read) | ours, VERIFY=anomalies | output duration: ours, CLI, sum of video frames |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.2} s, {:.1} MiB | {:.2} s ({:.2}x), {:.1} MiB ({:.2}) | {:.2} s ({:.2}x), {:.1} MiB ({:.2}) | {:.2} s ({:.2}x), {:.1} MiB ({:.2}) | {:.2} s, {:.2} s, {:.2} s |",
            r.label,
            r.cli_t,
            r.cli_m,
            r.kept_t,
            r.cli_t / r.kept_t,
            r.kept_m,
            r.kept_m / r.cli_m,
            r.ours_t,
            r.cli_t / r.ours_t,
            r.ours_m,
            r.ours_m / r.cli_m,
            r.anom_t,
            r.cli_t / r.anom_t,
            r.anom_m,
            r.anom_m / r.cli_m,
            r.ours_dur,
            r.cli_dur,
            r.frames_secs
        );
    }
    println!("(x: CLI time / ours, higher is faster; RSS in brackets: ours / CLI)");
    println!();
    println!("prepared as the server does on the fs store (`splice --prepared`): each slice when it lands, the index at the stop");
    println!("| slices | stop -> MP4: ffmpeg concat (all the work) | stop -> MP4: ours (index + header in front) | one slice's preparation (while recording) | whole run, peak RSS | output duration |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.2} s | {:.3} s ({:.0}x) | {:.2} s | {:.2} s, {:.1} MiB ({:.2}) | {:.2} s |",
            r.label,
            r.cli_t,
            r.stop_s,
            r.cli_t / r.stop_s.max(0.001),
            r.prep_slice_s,
            r.prep_t,
            r.prep_m,
            r.prep_m / r.cli_m,
            r.prep_dur
        );
    }
}
