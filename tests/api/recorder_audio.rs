//! Sound from a real PulseAudio server: a private daemon with a null sink, a tone played into it
//! with the ffmpeg CLI, and the recorder's default audio (`auto`) picking up its monitor. The tone
//! must be in the spliced MP4, as loud as it was played.

use crate::helpers::*;
use crate::recorder_support::*;
use localrecord_client::capture::AudioSource;
use localrecord_client::recorder::Recorder;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Pulse {
    daemon: Child,
    server: String,
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A PulseAudio daemon of our own (socket in `dir`) whose default sink is a null sink "lesson",
/// so its default source is that sink's monitor.
fn pulse(dir: &Path) -> Pulse {
    let socket = dir.join("native");
    let mut daemon = Command::new("pulseaudio")
        .args(["-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no"])
        .arg("-L")
        .arg(format!(
            "module-native-protocol-unix socket={} auth-anonymous=1",
            socket.display()
        ))
        .args(["-L", "module-null-sink sink_name=lesson", "-L", "module-always-sink"])
        .env("HOME", dir)
        .env("XDG_RUNTIME_DIR", dir)
        .stderr(Stdio::null())
        .spawn()
        .expect("pulseaudio installed (apt-get install pulseaudio)");
    let server = format!("unix:{}", socket.display());
    for _ in 0..100 {
        if socket.exists() {
            return Pulse { daemon, server };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    panic!("pulseaudio did not start");
}

/// mean_volume in dB of a file's audio, as FFmpeg's volumedetect measures it.
fn mean_volume(file: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "info", "-nostats", "-i"])
        .arg(file)
        .args(["-map", "0:a", "-af", "volumedetect", "-f", "null", "-"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    log.lines()
        .find_map(|l| l.split("mean_volume:").nth(1))
        .and_then(|v| v.trim().trim_end_matches("dB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no volume measured: {}", &log[log.len().saturating_sub(1500)..]))
}

#[tokio::test]
async fn sound_from_pulseaudio_reaches_the_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let pa = pulse(dir.path());
    // Our process's libpulse (through FFmpeg) and the player find the daemon here.
    std::env::set_var("PULSE_SERVER", &pa.server);
    let mut player = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:duration=30",
        ])
        .args(["-f", "pulse", "-device", "lesson", "tone"])
        .env("PULSE_SERVER", &pa.server)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let app = spawn_app().await;
    let mut s = settings(&app.base, &dir.path().join("rec"));
    s.audio = AudioSource::Auto;
    let rec = Recorder::open(s).unwrap();
    rec.init(creds(&app, "alice")).await.unwrap();
    let task = rec.start(params(3008, 3)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    rec.stop().await.unwrap();
    let _ = player.kill();
    let _ = player.wait();
    wait_uploaded(&rec, &task, 60).await;
    let done = wait_done(&app, &task).await;
    let mp4 = download_mp4(&app, &done, dir.path()).await;
    let played = mean_volume(&mp4);
    // lavfi's sine plays at 1/8 full scale: about -21 dB mean. Silence would be -91 dB.
    assert!(
        (-27.0..=-15.0).contains(&played),
        "the tone was recorded at {played} dB"
    );
    let a = crate::media::packets(&mp4, "a");
    let secs = a.last().map(|p| p.pts + p.duration).unwrap_or(0.0);
    assert!((5.4..=6.8).contains(&secs), "{secs} s of sound");
}
