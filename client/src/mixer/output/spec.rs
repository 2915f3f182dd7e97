//! What an `AddLocMixerOutput` item asks for, checked before anything is created: the format
//! (from the filename's extension), encryption, and the upload target.

use super::super::feed::class_of;
use super::super::types::{err, CrError, MixerOutput, OutputEnv, Streams};
use std::path::PathBuf;

/// The file formats an output writes, chosen by the filename's extension (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Mp4,
    Ts,
    Flv,
    Avi,
    /// Audio only, from the mixer's sound encoded again with LAME.
    Mp3,
}

impl Format {
    pub fn from_name(name: &str) -> Option<Format> {
        let ext = std::path::Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "mp4" => Format::Mp4,
            "ts" => Format::Ts,
            "flv" => Format::Flv,
            "avi" => Format::Avi,
            "mp3" => Format::Mp3,
            _ => return None,
        })
    }

    /// FFmpeg's muxer name.
    pub fn muxer(self) -> &'static str {
        match self {
            Format::Mp4 => "mp4",
            Format::Ts => "mpegts",
            Format::Flv => "flv",
            Format::Avi => "avi",
            Format::Mp3 => "mp3",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Ts => "ts",
            f => f.muxer(),
        }
    }
}

/// A checked output request.
#[derive(Debug, Clone)]
pub struct Plan {
    pub path: PathBuf,
    pub format: Format,
    pub encrypted: bool,
    /// `serverPathFileName` of an uploading output.
    pub upload: Option<String>,
}

/// The longest filename accepted (bytes).
const MAX_NAME: usize = 4096;

fn param(msg: impl Into<String>) -> CrError {
    CrError::new(err::PARAM_ERR, msg)
}

/// Checks one output item against the recorder's settings and the mixer's streams.
pub fn check(out: &MixerOutput, env: &OutputEnv, streams: &Streams) -> Result<Plan, CrError> {
    if out.kind != 0 {
        return Err(param(format!("output type {} is not supported (0: file)", out.kind)));
    }
    let name = out.filename.as_str();
    if name.is_empty() || name.len() > MAX_NAME || name.contains('\0') || name.ends_with('/') {
        return Err(param("filename must name a file (at most 4096 bytes)"));
    }
    let format = Format::from_name(name).ok_or_else(|| param("filename must end in .mp4, .ts, .flv, .avi or .mp3"))?;
    let encrypted = match out.encrypt_type {
        0 => false,
        1 => true,
        n => return Err(param(format!("encryptType {n} is not supported (0 or 1)"))),
    };
    if encrypted && env.key.is_none() {
        return Err(param("encryptType 1 needs the recorder's key (--key-file)"));
    }
    if encrypted && format == Format::Avi {
        // AVI goes back to its header and index at the end: it cannot be written as a stream.
        return Err(param("an encrypted output must be mp4, ts, flv or mp3, not avi"));
    }
    if format == Format::Mp3 && streams.audio.is_none() {
        return Err(param("an mp3 output needs a mixer with sound"));
    }
    if out.is_upload_on_recording == 1 && format == Format::Mp3 {
        return Err(param("an mp3 output cannot be uploaded while recording (not sliced)"));
    }
    let upload = match out.is_upload_on_recording {
        0 => None,
        1 => Some(upload_target(out.server_path_file_name.as_deref(), format, env)?),
        n => return Err(param(format!("isUploadOnRecording {n} is not supported (0 or 1)"))),
    };
    Ok(Plan {
        path: PathBuf::from(name),
        format,
        encrypted,
        upload,
    })
}

fn upload_target(target: Option<&str>, format: Format, env: &OutputEnv) -> Result<String, CrError> {
    let t = target.unwrap_or("").trim();
    if let Some(class) = class_of(t) {
        class.map_err(param)?;
        if format != Format::Flv {
            return Err(param(
                "a localrecord: output must be .flv (our server splices FLV slices)",
            ));
        }
        if env.tasks.is_none() {
            return Err(param("localrecord: outputs need the recorder's local service (serve)"));
        }
        return Ok(t.to_owned());
    }
    if t.len() > MAX_NAME || !super::target::supported(t) {
        return Err(param(
            "isUploadOnRecording 1 needs serverPathFileName http://..., https://..., s3://bucket/prefix \
             or localrecord:CLASSID",
        ));
    }
    Ok(t.to_owned())
}
