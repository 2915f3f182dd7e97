//! Splice benchmark (not a test): the same 12 x 300 s 1280x720 H.264/AAC FLV slices spliced by
//! `localrecord splice` and by `ffmpeg -f concat -safe 0 -i list -c copy -movflags +faststart`,
//! alternating, 3 runs each; prints median wall time, peak memory (VmHWM sampled from /proc) and the
//! ratio. The slice is made once with the ffmpeg CLI and cached under target/bench-media.
//!
//! Run: `deploy/localrecord.sh bench` or `cargo bench --bench splice`. BENCH_SLICE_SECS and
//! BENCH_SLICES change the load.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_localrecord");

fn env_u(k: &str, d: u64) -> u64 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn make_slice(path: &Path, secs: u64) {
    if path.exists() {
        return;
    }
    println!(
        "making a {secs} s 1280x720 slice with the ffmpeg CLI (cached in {})",
        path.display()
    );
    let tmp = path.with_extension("part.flv");
    let st = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=15",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
        ])
        .args([
            "-t",
            &secs.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "1500k",
            "-g",
            "150",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"])
        .arg(&tmp)
        .status()
        .expect("ffmpeg CLI");
    assert!(st.success());
    std::fs::rename(tmp, path).unwrap();
}

/// Runs a command, sampling its peak RSS; returns (seconds, peak MiB).
fn measure(cmd: &mut Command) -> (f64, f64) {
    let start = Instant::now();
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(v) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
            {
                peak_kb = peak_kb.max(v);
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "{cmd:?} failed");
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (start.elapsed().as_secs_f64(), peak_kb as f64 / 1024.0)
}

fn probe_duration(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let secs = env_u("BENCH_SLICE_SECS", 300);
    let n = env_u("BENCH_SLICES", 12) as usize;
    let media = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-media");
    std::fs::create_dir_all(&media).unwrap();
    let slice = media.join(format!("slice-720p-{secs}s.flv"));
    make_slice(&slice, secs);
    let work = tempfile::tempdir_in(&media).unwrap();
    let inputs: Vec<PathBuf> = (0..n)
        .map(|i| {
            let p = work.path().join(format!("{i:02}.flv"));
            std::fs::hard_link(&slice, &p).unwrap();
            p
        })
        .collect();
    let list = work.path().join("list.txt");
    std::fs::write(
        &list,
        inputs
            .iter()
            .map(|p| format!("file '{}'\n", p.display()))
            .collect::<String>(),
    )
    .unwrap();
    let ours_out = work.path().join("ours.mp4");
    let base_out = work.path().join("ffmpeg.mp4");
    let total_mb = std::fs::metadata(&slice).unwrap().len() as f64 * n as f64 / (1 << 20) as f64;
    println!("splice benchmark: {n} slices x {secs} s 1280x720 15 fps H.264 + AAC, {total_mb:.0} MiB of FLV");

    let (mut ours_t, mut base_t, mut ours_m, mut base_m) = (vec![], vec![], 0f64, 0f64);
    for _ in 0..3 {
        let (t, m) = measure(Command::new(BIN).arg("splice").arg("-o").arg(&ours_out).args(&inputs));
        ours_t.push(t);
        ours_m = ours_m.max(m);
        let (t, m) = measure(
            Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-f", "concat", "-safe", "0", "-i"])
                .arg(&list)
                .args(["-c", "copy", "-movflags", "+faststart"])
                .arg(&base_out),
        );
        base_t.push(t);
        base_m = base_m.max(m);
    }
    let (ot, bt) = (median(ours_t), median(base_t));
    println!(
        "{:<34} {:>7.2} s  peak {:>6.1} MiB  output {:.2} s",
        "localrecord splice",
        ot,
        ours_m,
        probe_duration(&ours_out)
    );
    println!(
        "{:<34} {:>7.2} s  peak {:>6.1} MiB  output {:.2} s",
        "ffmpeg -f concat -c copy +faststart",
        bt,
        base_m,
        probe_duration(&base_out)
    );
    println!(
        "speed-up {:.2}x (target >= 1.25x), memory ratio {:.2} (target <= 1.00)",
        bt / ot,
        ours_m / base_m
    );
}
