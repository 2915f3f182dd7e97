//! A measurement, not a check (ignored by default): CPU of a 720p mixer with a camera over the
//! whole canvas and a picture-in-picture, beside the ffmpeg CLI composing the same with overlay.
//! `cargo test -p localrecord-client --lib mixer::tests::bench -- --ignored --nocapture`

use super::*;
use crate::mixer::types::content_type as ct;

const SECONDS: u64 = 20;

/// CPU seconds of this process (`who` RUSAGE_SELF) or its children, and the peak RSS (MiB) of
/// this process or of its largest child.
fn usage(who: i32) -> (f64, f64) {
    // SAFETY: getrusage fills the struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        ru
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime) + secs(ru.ru_stime), ru.ru_maxrss as f64 / 1024.0)
}

/// A size from /proc/self/status, in MiB.
fn status_mib(key: &str) -> f64 {
    let st = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = st.lines().find_map(|l| l.strip_prefix(key)).unwrap();
    kb.trim().trim_end_matches(" kB").parse::<f64>().unwrap() / 1024.0
}

/// The ffmpeg CLI composing the same for as long: (share of a core, peak RSS in MiB).
fn ffmpeg_cli(camera: &str, png: &std::path::Path) -> (f64, f64) {
    let t0 = Instant::now();
    let st = std::process::Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            camera,
            "-loop",
            "1",
            "-framerate",
            "15",
        ])
        .arg("-i")
        .arg(png)
        .args([
            "-filter_complex",
            "[0][1]overlay=950:530:shortest=1",
            "-t",
            &SECONDS.to_string(),
        ])
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
            "-maxrate", "2000000", "-bufsize", "2000000", "-g", "225", "-f", "null", "-",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let (cli_cpu, cli_rss) = usage(libc::RUSAGE_CHILDREN);
    let cli = cli_cpu / t0.elapsed().as_secs_f64();
    (cli, cli_rss)
}

#[test]
#[ignore = "a measurement of CPU use, run by hand"]
fn cpu_of_a_720p_two_source_mixer_beside_the_ffmpeg_cli() {
    let d = dir("bench");
    let png = d.join("pip.png");
    make(&png, "testsrc2=size=320x180", &["-frames:v", "1"]);
    let camera = "testsrc2=size=1280x720:rate=15";
    let content = vec![
        item(
            ct::VIDEO,
            (0, 0, 1280, 720),
            1,
            json!({ "camid": format!("lavfi:{camera}") }),
        ),
        item(
            ct::PIC,
            (950, 530, 320, 180),
            1,
            json!({ "filename": png.to_str().unwrap() }),
        ),
    ];
    let mut c = cfg(1280, 720, 15);
    (c.bit_rate, c.default_qp, c.gop) = (2_000_000, 26, None);
    let (cpu0, _) = usage(libc::RUSAGE_SELF);
    let t0 = Instant::now();
    let probe = Probe::default();
    let m = Mixer::create("b".into(), c, content, None, Box::new(probe.clone())).unwrap();
    let mut rss_at = Vec::new();
    for _ in 0..SECONDS {
        std::thread::sleep(Duration::from_secs(1));
        rss_at.push(status_mib("VmRSS:"));
    }
    m.destroy().unwrap();
    let (cpu1, _) = usage(libc::RUSAGE_SELF);
    let rss = status_mib("VmHWM:");
    let ours = (cpu1 - cpu0) / t0.elapsed().as_secs_f64();

    let (cli, cli_rss) = ffmpeg_cli(camera, &png);
    println!(
        "mixer: {:.0}% of a core, peak RSS {rss:.0} MiB (the whole test process)",
        ours * 100.0
    );
    // Memory stays flat while recording (a packet per frame once leaked: 20 MiB/s at 720p).
    let growth = rss_at[rss_at.len() - 1] - rss_at[4];
    assert!(
        growth < 20.0,
        "RSS grew by {growth:.0} MiB over {} s: {rss_at:?}",
        SECONDS - 5
    );
    println!("ffmpeg CLI: {:.0}% of a core, peak RSS {cli_rss:.0} MiB", cli * 100.0);
}
