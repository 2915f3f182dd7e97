//! The command line's shared options, `serve` and `recover`.

use localrecord_client::capture::{AudioSource, VideoSource};
use localrecord_client::control::{Access, MixerEnv, Mixers};
use localrecord_client::recorder::{Recorder, Settings};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct CaptureArgs {
    /// Picture source: x11 (a window or the screen), test (a synthetic pattern), or an FFmpeg
    /// device as FORMAT:INPUT (e.g. gdigrab:desktop, avfoundation:1)
    #[arg(long, global = true, default_value = "x11")]
    source: String,
    /// X display for --source x11 (default $DISPLAY)
    #[arg(long, global = true)]
    display: Option<String>,
    /// Size of the test pattern
    #[arg(long, global = true, default_value = "640x360")]
    test_size: String,
    /// Sound source when audio is on: auto (PulseAudio, else ALSA, else silence), tone, silence,
    /// or FORMAT:INPUT (e.g. pulse:default, alsa:hw:0)
    #[arg(long, global = true, default_value = "auto")]
    audio: String,
    /// Slices uploaded at once
    #[arg(long, global = true, default_value_t = 3)]
    parallel_uploads: usize,
    /// Refuse to start (-10005) with less free space than this, in MiB
    #[arg(long, global = true, default_value_t = 500)]
    min_free_mb: u64,
    /// Directory a StartRecord's DstPath may name a new file in (repeat; default ~/Videos)
    #[arg(long, global = true, env = "LOCALRECORD_RECORDER_DST_DIRS", value_delimiter = ',')]
    dst_dir: Vec<PathBuf>,
    /// Web origin (https://class.example.com) whose pages may call the control API (repeat;
    /// default none: only programs, which send no Origin)
    #[arg(
        long,
        global = true,
        env = "LOCALRECORD_RECORDER_ALLOW_ORIGINS",
        value_delimiter = ','
    )]
    allow_origin: Vec<String>,
    /// Seconds between keepalives of a recording or paused task; keep it well below the
    /// server's jobs.splice_idle_secs (default 1800)
    #[arg(long, global = true, env = "LOCALRECORD_RECORDER_KEEPALIVE_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    keepalive_secs: u64,
    /// Seconds of each slice a mixer output uploaded while recording sends (isUploadOnRecording
    /// 1: http(s)://, s3:// and localrecord: targets); cut at the next keyframe
    #[arg(long, global = true, env = "LOCALRECORD_RECORDER_MIXER_SLICE_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    mixer_slice_secs: u32,
    /// Encrypt every slice and DstPath file with the key in this file (from `localrecord app key
    /// export`); also the key `decrypt` and `play` read with. A file, never the key itself
    #[arg(long, global = true, env = "LOCALRECORD_RECORDER_KEY_FILE")]
    key_file: Option<PathBuf>,
}

impl CaptureArgs {
    pub fn settings(&self, server: String, data_dir: PathBuf) -> Settings {
        let video = match self.source.as_str() {
            "x11" => VideoSource::X11 {
                display: self.display.clone(),
            },
            "test" => {
                let (w, h) = self.test_size.split_once('x').unwrap_or(("640", "360"));
                VideoSource::Test {
                    width: w.parse().unwrap_or(640),
                    height: h.parse().unwrap_or(360),
                }
            }
            dev => {
                let (format, input) = dev.split_once(':').unwrap_or((dev, ""));
                VideoSource::Device {
                    format: format.into(),
                    input: input.into(),
                }
            }
        };
        let audio = match self.audio.as_str() {
            "auto" => AudioSource::Auto,
            "tone" => AudioSource::Tone,
            "silence" => AudioSource::Silence,
            dev => {
                let (format, input) = dev.split_once(':').unwrap_or((dev, "default"));
                AudioSource::Device {
                    format: format.into(),
                    input: input.into(),
                }
            }
        };
        Settings {
            server,
            data_dir,
            video,
            audio,
            parallel_uploads: self.parallel_uploads,
            min_free_bytes: self.min_free_mb << 20,
            upload: Default::default(),
            dst_dirs: if self.dst_dir.is_empty() {
                default_dst_dirs()
            } else {
                self.dst_dir.clone()
            },
            keepalive: Duration::from_secs(self.keepalive_secs),
            mixer_slice_secs: self.mixer_slice_secs,
            key: None,
        }
    }

    /// The key named by --key-file, read and checked (its id is logged, never the key).
    pub fn key(&self) -> anyhow::Result<Option<Arc<localrecord_crypt::Key>>> {
        let Some(path) = &self.key_file else { return Ok(None) };
        let key = localrecord_crypt::Key::read_file(path).map_err(anyhow::Error::msg)?;
        tracing::info!("recording key {} from {}", key.id(), path.display());
        Ok(Some(Arc::new(key)))
    }

    /// The allowed web origins, checked: each must be a plain `scheme://host[:port]`.
    pub fn origins(&self) -> anyhow::Result<Vec<String>> {
        self.allow_origin
            .iter()
            .filter(|o| !o.trim().is_empty())
            .map(|o| localrecord_client::control::parse_origin(o).map_err(|e| anyhow::anyhow!("--allow-origin: {e}")))
            .collect()
    }
}

/// The user's videos folder (`$XDG_VIDEOS_DIR`, else `~/Videos`), where screen recorders save.
fn default_dst_dirs() -> Vec<PathBuf> {
    std::env::var_os("XDG_VIDEOS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Videos")))
        .into_iter()
        .collect()
}

pub fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("localrecord-recorder")
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address of the local control API
    #[arg(long, default_value = "127.0.0.1:37604")]
    listen: String,
}

/// SIGTERM (service managers stop the recorder with it); never on other systems.
pub async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        s.recv().await;
        return;
    }
    std::future::pending::<()>().await
}

pub async fn serve(settings: Settings, origins: Vec<String>, a: ServeArgs) -> anyhow::Result<()> {
    let rec = Recorder::open(settings.clone())?;
    let exit = Arc::new(tokio::sync::Notify::new());
    let listener = tokio::net::TcpListener::bind(&a.listen).await?;
    let access = Access {
        port: listener.local_addr()?.port(),
        origins,
    };
    tracing::info!(
        "control API on http://{}/localrecord/v1/ (web origins allowed: {})",
        listener.local_addr()?,
        if access.origins.is_empty() {
            "none".into()
        } else {
            access.origins.join(", ")
        }
    );
    let mut env = MixerEnv::from_settings(&settings);
    env.outputs.tasks = Some(rec.mixer_feed());
    let mixers = Mixers::new(env);
    let app = localrecord_client::control::router(rec.clone(), mixers.clone(), exit.clone(), access);
    let m = mixers.clone();
    let stop = async move {
        tokio::select! {
            _ = exit.notified() => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = terminated() => {}
        }
        // Outputs are finalised and their last events sent before the event streams end, which
        // the graceful shutdown waits for.
        m.destroy_all().await;
        m.close_events();
    };
    axum::serve(listener, app).with_graceful_shutdown(stop).await?;
    if rec.recorded_ms().await.is_some() {
        rec.stop().await.ok();
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct RecoverArgs {
    /// Give up after this many seconds
    #[arg(long, default_value_t = 600)]
    wait_secs: u64,
}

pub async fn recover(settings: Settings, a: RecoverArgs) -> anyhow::Result<()> {
    let rec = Recorder::open(settings)?;
    let deadline = Instant::now() + Duration::from_secs(a.wait_secs);
    let tasks: Vec<String> = rec
        .book()
        .all()
        .into_iter()
        .filter(|t| t.upload)
        .map(|t| t.task_id)
        .collect();
    eprintln!("recovering {} task(s): {}", tasks.len(), tasks.join(", "));
    let up = rec.uploader();
    // A task the server refused for good is as finished as it gets.
    while !tasks.iter().all(|t| up.is_done(t) || up.abandoned(t).is_some()) {
        if Instant::now() > deadline {
            anyhow::bail!("not finished after {} s", a.wait_secs);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut refused = 0;
    for t in &tasks {
        match up.abandoned(t) {
            None => println!("{}", serde_json::json!({ "TaskId": t, "Upload": "uploaded" })),
            Some(why) => {
                refused += 1;
                println!(
                    "{}",
                    serde_json::json!({ "TaskId": t, "Upload": "upload failed", "Reason": why })
                );
                eprintln!(
                    "task {t}: {why}; its files stay in {}",
                    rec.book().task_dir(t).display()
                );
            }
        }
    }
    if refused > 0 {
        anyhow::bail!("the server refused {refused} task(s)");
    }
    Ok(())
}
