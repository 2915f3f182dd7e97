//! The CloudRoom seed's mixer contract (issue 14): `CreateLocMixer`, `UpdateLocMixerContent`,
//! `AddLocMixerOutput`, `RemoveLocMixerOutput`, `DestroyLocMixer` and the `LocMixerOutputInfo`
//! event, with the seed's JSON field names (`CRVideo_MixerCfgObj`, `CRVideo_MixerContentObj`,
//! `CRVideo_MixerOutputObj`, `CRVideo_MixerOutputInfoObj`) and its error codes
//! (`CRVIDEOSDK_ERR_DEF`). The mixer (`compose`, `source`) and the outputs (`output`) meet only
//! through [`OutputSet`]: one encode per mixer, handed to every output.

use ffmpeg_next::{codec, Packet};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

pub use super::feed::{FeedTask, TaskFeed};

/// `CRVIDEOSDK_ERR_DEF` codes the mixer answers with (the seed's numbers; 0 is success).
pub mod err {
    pub const NOERR: i64 = 0;
    pub const UNKNOWERR: i64 = 1;
    pub const INNER_ERR: i64 = 3;
    pub const PARAM_ERR: i64 = 5;
    /// Our server refused a `localrecord:` output's task (its message says why).
    pub const SERVER_EXCEPTION: i64 = 8;
    /// A `localrecord:` output before a successful Init.
    pub const NOT_LOGIN: i64 = 12;
    /// Our server did not answer a `localrecord:` output's task.
    pub const NOSERVER_RSP: i64 = 202;
    pub const CATCH_SCREEN_ERR: i64 = 900;
    pub const RECORD_NO_DISK: i64 = 902;
    /// The canvas is larger than the mixer allows (see [`super::MixerCfg::check`]).
    pub const RECORD_SIZE_ERR: i64 = 903;
    /// frameRate, bitRate, defaultQP or gop out of range, or too many mixers/outputs/sources.
    pub const CFG_RESTRICTED: i64 = 904;
    pub const FILE_ERR: i64 = 905;
    /// A mixer with this mixerID exists already.
    pub const RECORDSTARTED: i64 = 906;
    pub const RECORDFILE_UPLOAD_FAILED: i64 = 1202;
    /// A source file (image, media) or a named mixer / output does not exist.
    pub const FILE_NOT_EXIST: i64 = 1400;
    pub const FILE_READ_ERR: i64 = 1401;
    pub const FILE_WRITE_ERR: i64 = 1402;
    /// An output's filename exists already (outputs never overwrite) or is in use.
    pub const FILE_ALREADY_EXIST: i64 = 1403;
}

/// An error in the seed's style: a `CRVIDEOSDK_ERR_DEF` code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (errCode {code})")]
pub struct CrError {
    pub code: i64,
    pub message: String,
}

impl CrError {
    pub fn new(code: i64, message: impl Into<String>) -> CrError {
        CrError {
            code,
            message: message.into(),
        }
    }
}

/// `CRVideo_MixerCfgObj`: `{"width":640,"height":360,"frameRate":8,"bitRate":500000,"defaultQP":28,"gop":120}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MixerCfg {
    /// Canvas width, a multiple of 8 (the seed's rule).
    pub width: u32,
    /// Canvas height, a multiple of 8.
    pub height: u32,
    /// 1..=30 frames per second.
    pub frame_rate: u32,
    /// The highest bit rate (bit/s); the encoder spends less on still pictures.
    pub bit_rate: u32,
    /// Target quality 0..=51 (default 26): the CRF of libx264, capped by `bit_rate`.
    #[serde(rename = "defaultQP", default = "default_qp")]
    pub default_qp: u32,
    /// Frames between keyframes (default frameRate x 15, the seed's advice for files).
    #[serde(default)]
    pub gop: Option<u32>,
}

fn default_qp() -> u32 {
    26
}

impl MixerCfg {
    /// The seed's ranges, plus a canvas of at most 3840x2160.
    pub fn check(&self) -> Result<(), CrError> {
        if self.width == 0 || self.height == 0 || !self.width.is_multiple_of(8) || !self.height.is_multiple_of(8) {
            return Err(CrError::new(
                err::PARAM_ERR,
                "width and height must be positive multiples of 8",
            ));
        }
        if self.width > 3840 || self.height > 2160 {
            return Err(CrError::new(
                err::RECORD_SIZE_ERR,
                "the canvas may be at most 3840x2160",
            ));
        }
        if !(1..=30).contains(&self.frame_rate) {
            return Err(CrError::new(err::CFG_RESTRICTED, "frameRate must be 1..=30"));
        }
        if !(10_000..=50_000_000).contains(&self.bit_rate) {
            return Err(CrError::new(err::CFG_RESTRICTED, "bitRate must be 10000..=50000000"));
        }
        if self.default_qp > 51 {
            return Err(CrError::new(err::CFG_RESTRICTED, "defaultQP must be 0..=51"));
        }
        if self.gop.is_some_and(|g| !(1..=3000).contains(&g)) {
            return Err(CrError::new(err::CFG_RESTRICTED, "gop must be 1..=3000"));
        }
        Ok(())
    }

    pub fn gop(&self) -> u32 {
        self.gop.unwrap_or(self.frame_rate * 15)
    }
}

/// `CRVIDEOSDK_MIXER_VCONTENT_TYPE` values a local mixer draws.
pub mod content_type {
    /// A camera, `param.camid`; here any FFmpeg capture device (see `source`).
    pub const VIDEO: u32 = 0;
    /// A picture, `param.resourceid` (here: an image file path, or a resource set by the API).
    pub const PIC: u32 = 1;
    /// The local screen, `param.screenid` / `pid` / `area` ("x,y,w,h").
    pub const SCREEN: u32 = 2;
    /// A media file played in a loop (`param.filename`, ours).
    pub const MEDIA: u32 = 3;
    /// The current date and time.
    pub const TIMESTAMP: u32 = 4;
    /// A text label, `param.text` (width/height 0: sized by the text).
    pub const TEXT: u32 = 7;
}

/// `CRVideo_MixerContentObj`: one cell of the layout. The list order is the z-order (the last
/// item is drawn on top).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MixerContent {
    #[serde(rename = "type")]
    pub kind: u32,
    pub left: i32,
    pub top: i32,
    pub width: u32,
    pub height: u32,
    /// 1: letterbox the picture inside the cell; 0: stretch it to the cell.
    #[serde(default)]
    pub keep_aspect_ratio: u8,
    #[serde(default)]
    pub param: Value,
}

/// `CRVideo_MixerOutputObj` for `type` 0 (MIXOT_FILE). The format follows the filename's
/// extension: mp4, ts, flv, avi or mp3 (audio only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MixerOutput {
    #[serde(rename = "type")]
    pub kind: u32,
    pub filename: String,
    /// 1: the file is encrypted with the recorder's key (`--key-file`); 0 plain.
    #[serde(default)]
    pub encrypt_type: u8,
    /// 1: uploaded while recording, slice by slice, to `serverPathFileName`.
    #[serde(default)]
    pub is_upload_on_recording: u8,
    /// Where an uploading output goes: `http(s)://...` (PUT per slice), `s3://bucket/prefix`,
    /// `oss://bucket/prefix`, or `localrecord:` (our server, as the TIC flow).
    #[serde(default)]
    pub server_path_file_name: Option<String>,
}

/// `CRVideo_MixerOutputInfoObj` states.
pub mod state {
    pub const CREATED: u8 = 0;
    pub const WRITING: u8 = 1;
    pub const CLOSED: u8 = 2;
    pub const ERROR: u8 = 3;
}

/// `CRVideo_MixerOutputInfoObj`: `{"state":2,"duration":100,"fileSize":10000}` (+ `errCode`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputInfo {
    pub state: u8,
    /// Milliseconds of media written.
    pub duration: i64,
    pub file_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub err_code: Option<i64>,
}

/// The `LocMixerOutputInfo` notification: `(mixerID, nameOrUrl, outputInfo)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputEvent {
    #[serde(rename = "mixerID")]
    pub mixer_id: String,
    pub name_or_url: String,
    pub output_info: OutputInfo,
}

/// Where output events go (the local API's event stream, tests). Called from mixer threads.
pub type EventSink = Arc<dyn Fn(OutputEvent) + Send + Sync>;

/// The mixer's one encode, described for the outputs: H.264 video and (when the mixer has
/// sound) AAC, both with packet timestamps in milliseconds of the mixer's clock.
#[derive(Clone)]
pub struct Streams {
    pub video: codec::Parameters,
    pub audio: Option<codec::Parameters>,
    pub width: u32,
    pub height: u32,
    pub frame_rate: u32,
}

/// What a mixer drives: every output it has. The mixer calls these from its own thread in time
/// order; an output that fails reports `state` 3 with its `errCode` through its events and is
/// dropped, and never stops the mixer or the other outputs.
pub trait OutputSet: Send {
    /// Opens an output (refusing an existing file, a bad extension, a missing key) and emits
    /// state 0. Packets from the next keyframe on reach it.
    fn add(&mut self, out: &MixerOutput, streams: &Streams) -> Result<(), CrError>;
    /// Finalises the output named `filename` and emits state 2.
    fn remove(&mut self, filename: &str) -> Result<(), CrError>;
    /// An encoded video packet; `ms` is its time on the mixer's clock.
    fn video(&mut self, packet: &Packet, ms: i64);
    /// An encoded AAC packet.
    fn audio(&mut self, packet: &Packet, ms: i64);
    /// The raw sound the AAC was made from (interleaved f32 stereo at 44.1 kHz starting at
    /// `start_ms`), for outputs that need another codec (mp3).
    fn pcm(&mut self, interleaved: &[f32], start_ms: i64);
    /// Filenames of the open outputs, with their current info.
    fn list(&self) -> Vec<(String, OutputInfo)>;
    /// Finalises every output (each emits state 2 or 3).
    fn close_all(&mut self);
}

/// Settings every output of a recorder shares.
#[derive(Clone, Default)]
pub struct OutputEnv {
    /// The recorder's key (`--key-file`), for `encryptType: 1`.
    pub key: Option<Arc<localrecord_crypt::Key>>,
    /// Where uploading outputs keep their slices until uploaded.
    pub spool_dir: PathBuf,
    /// The recorder's TIC flow, for outputs uploaded to our server (`localrecord:CLASSID`);
    /// None: such outputs are refused.
    pub tasks: Option<Arc<dyn TaskFeed>>,
    /// Slice length of uploading outputs, seconds (0: 60).
    pub slice_secs: u32,
}
