//! Why a source could not be opened or stopped delivering. Opening errors are mostly the caller's
//! parameters (a window that is not there, a region that does not fit) or a missing device.

use ffmpeg_next as ffmpeg;

/// A capture failure: resolving the X11 target, opening an FFmpeg device, or the device failing
/// later in its thread. The messages are the ones StartRecord answers and the task book keeps.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("FFmpeg: {0}")]
    Init(#[source] ffmpeg::Error),
    #[error("no X display (set DISPLAY or --display)")]
    NoDisplay,
    #[error("X display {name}: {source}")]
    Display {
        name: String,
        source: x11rb::errors::ConnectError,
    },
    /// A request to the X server failed (the connection broke, or the server refused it).
    #[error(transparent)]
    X11(#[from] x11rb::errors::ReplyError),
    #[error("no X window {window:#x}")]
    NoWindow {
        window: u32,
        source: x11rb::errors::ReplyError,
    },
    #[error("region {width}x{height} at {x},{y} does not fit the {window_width}x{window_height} window {window:#x}")]
    RegionOutside {
        x: u32,
        y: u32,
        width: u32,
        height: u32,
        window: u32,
        window_width: u32,
        window_height: u32,
    },
    #[error("no process named '{0}'")]
    NoProcess(String),
    #[error("process '{0}' has no visible X window")]
    WindowNotFound(String),
    #[error("bad device name")]
    BadDeviceName(#[source] std::ffi::NulError),
    #[error("this FFmpeg has no input device '{0}'")]
    NoDevice(String),
    #[error("not an input")]
    NotAnInput,
    /// FFmpeg could not open `input` with the input device `format`.
    #[error("{format} '{input}': {source}")]
    Device {
        format: String,
        input: String,
        source: ffmpeg::Error,
    },
    /// The device has no stream of the kind asked for ("audio" or "video").
    #[error("the device gives no {0}")]
    NoStream(&'static str),
    #[error("{kind} decoder: {source}")]
    Decoder { kind: &'static str, source: ffmpeg::Error },
    /// The video device's input ended (the window closed, the device vanished).
    #[error("{format} '{input}' ended")]
    VideoEnded { format: String, input: String },
    #[error("the audio device ended")]
    AudioEnded,
    #[error("scaler: {0}")]
    Scaler(#[source] ffmpeg::Error),
    #[error("resampling: {0}")]
    Resampler(#[source] ffmpeg::Error),
}
