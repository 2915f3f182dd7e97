//! Capture: threads that read a video source and an audio source and hand the engine raw frames in
//! one fixed format each (YUV 4:2:0 at even dimensions; interleaved f32 stereo at 44.1 kHz), each
//! stamped with the instant it was captured. The engine owns time; sources only report it.

pub mod device;
mod error;
pub mod synthetic;
pub mod x11;

pub use error::Error;
use ffmpeg_next as ffmpeg;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::Instant;

/// Sample rate of the audio the engine receives and encodes.
pub const AUDIO_RATE: u32 = 44_100;

/// What the engine receives from the capture threads (and from its controller).
pub enum Input {
    /// A YUV420P frame and the instant it was grabbed.
    Video(ffmpeg::frame::Video, Instant),
    /// Interleaved f32 stereo samples at [`AUDIO_RATE`]; the instant the last one was captured.
    Audio(Vec<f32>, Instant),
    /// The video source failed for good (the window closed, the device vanished): the recording
    /// ends with what it has.
    VideoFailed(Error),
    /// The audio source failed; the recording goes on without sound.
    AudioFailed(Error),
    Pause(Instant),
    Resume(Instant),
    Stop,
}

/// Where the picture comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoSource {
    /// A moving test pattern drawn in process (headless machines, tests).
    Test { width: u32, height: u32 },
    /// An X11 display (`None`: `$DISPLAY`): the window or region of [`Region`].
    X11 { display: Option<String> },
    /// Any other FFmpeg input device, e.g. `gdigrab`/`desktop` on Windows or
    /// `avfoundation`/`1` on macOS.
    Device { format: String, input: String },
}

/// Where the sound comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioSource {
    /// PulseAudio's default source, else ALSA's `default`, else silence.
    Auto,
    /// A given FFmpeg audio device, e.g. `pulse`/`default` or `alsa`/`hw:0`.
    Device { format: String, input: String },
    /// A 440 Hz tone drawn in process (tests).
    Tone,
    /// A silent track.
    Silence,
}

/// The part of the screen to record, in the seed's StartRecord terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Region {
    /// X window id (`Wnd`); 0 for none.
    pub window: u32,
    /// Process name whose window to record (`AppProc`), when `window` is 0.
    pub app_proc: Option<String>,
    pub x: u32,
    pub y: u32,
    /// 0: the whole window (or screen) from x, y.
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone)]
pub struct CaptureSpec {
    pub video: VideoSource,
    pub region: Region,
    pub fps: u32,
    /// None: no audio track at all (`EnableAudio: false`).
    pub audio: Option<AudioSource>,
}

/// Running capture threads; they end when `stop` is called or the engine hangs up.
pub struct Capture {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Capture {
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Opens the sources (errors here are the caller's bad parameters or missing devices) and starts
/// one thread per source feeding `tx`.
pub fn start(spec: &CaptureSpec, tx: SyncSender<Input>) -> Result<Capture, Error> {
    ffmpeg::init().map_err(Error::Init)?;
    ffmpeg::device::register_all();
    // libx264's statistics and device chatter are not the user's business; errors still show.
    ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let video = match &spec.video {
        VideoSource::Test { width, height } => {
            synthetic::video(*width, *height, spec.fps, &spec.region, tx.clone(), stop.clone())
        }
        VideoSource::X11 { display } => {
            let grab = x11::resolve(display.as_deref(), &spec.region)?;
            device::video("x11grab", &grab.input, grab.options(spec.fps), tx.clone(), stop.clone())?
        }
        VideoSource::Device { format, input } => {
            let opts = vec![("framerate".to_owned(), spec.fps.to_string())];
            device::video(format, input, opts, tx.clone(), stop.clone())?
        }
    };
    threads.push(video);
    if let Some(audio) = &spec.audio {
        threads.push(open_audio(audio, tx, stop.clone()));
    }
    Ok(Capture { stop, threads })
}

pub(crate) fn open_audio(
    src: &AudioSource,
    tx: SyncSender<Input>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let tone = |amp: f32, tx, stop| synthetic::audio(amp, tx, stop);
    match src {
        AudioSource::Tone => tone(0.3, tx, stop),
        AudioSource::Silence => tone(0.0, tx, stop),
        AudioSource::Device { format, input } => match device::audio(format, input, tx.clone(), stop.clone()) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("audio device {format}:{input}: {e}; recording a silent track");
                tone(0.0, tx, stop)
            }
        },
        AudioSource::Auto => {
            // Probing is expected to fail on machines without sound: the libraries' own complaints
            // (FFmpeg's device errors, libasound's "ALSA lib ..." lines) would be noise, so they are
            // silenced while probing and one plain line says what happened.
            let mut tried = Vec::new();
            for (format, input) in [("pulse", "default"), ("alsa", "default")] {
                let quiet = QuietStderr::start();
                let opened = device::audio(format, input, tx.clone(), stop.clone());
                drop(quiet);
                match opened {
                    Ok(t) => return t,
                    Err(e) => {
                        tracing::debug!("audio {format}:{input}: {e}");
                        tried.push(if format == "pulse" { "PulseAudio" } else { "ALSA" });
                    }
                }
            }
            tracing::warn!(
                "no sound device found (tried {}): recording a silent audio track",
                tried.join(" and ")
            );
            tone(0.0, tx, stop)
        }
    }
}

/// Silences FFmpeg's log and this process's stderr (fd 2) until dropped.
struct QuietStderr(Option<i32>);

impl QuietStderr {
    fn start() -> QuietStderr {
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Quiet);
        // SAFETY: plain descriptor calls on fd 2 and a descriptor this function opens; failures
        // leave stderr as it was.
        let saved = unsafe {
            let saved = libc::dup(2);
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            if saved >= 0 && null >= 0 {
                libc::dup2(null, 2);
            }
            if null >= 0 {
                libc::close(null);
            }
            (saved >= 0).then_some(saved)
        };
        QuietStderr(saved)
    }
}

impl Drop for QuietStderr {
    fn drop(&mut self) {
        if let Some(saved) = self.0 {
            // SAFETY: `saved` is the duplicate of the original stderr made in `start`.
            unsafe {
                libc::dup2(saved, 2);
                libc::close(saved);
            }
        }
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
    }
}

pub(crate) fn stopped(stop: &AtomicBool) -> bool {
    stop.load(Ordering::SeqCst)
}
