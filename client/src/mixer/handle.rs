//! A running mixer, as the control API and the CLI drive it. (Signatures agreed between the
//! mixer and its callers; the bodies are the mixer's to write.)

use super::types::{CrError, MixerCfg, MixerContent, MixerOutput, OutputInfo, OutputSet};
use crate::capture::AudioSource;
use serde::Serialize;

/// How a source of the layout is doing (`GetState`, events): a source that fails or vanishes
/// shows a placeholder in its cell and is reported here; it never stops the recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// Index in the current mixerContent list.
    pub index: usize,
    #[serde(rename = "type")]
    pub kind: u32,
    /// "ok", "starting" or "failed".
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub struct Mixer {
    _private: (),
}

impl Mixer {
    /// Checks `cfg` and `content` (bad ones are refused with the seed's codes, nothing started),
    /// then starts the sources and the mixer thread. `audio`: the sound source (None: no track).
    pub fn create(
        id: String,
        cfg: MixerCfg,
        content: Vec<MixerContent>,
        audio: Option<AudioSource>,
        outputs: Box<dyn OutputSet>,
    ) -> Result<Mixer, CrError> {
        let _ = (id, cfg, content, audio, outputs);
        Err(CrError::new(super::types::err::INNER_ERR, "the mixer is not built yet"))
    }

    pub fn id(&self) -> &str {
        ""
    }

    /// A new layout, applied from the next frame on, in the same files.
    pub fn update_content(&self, content: Vec<MixerContent>) -> Result<(), CrError> {
        let _ = content;
        Ok(())
    }

    pub fn add_outputs(&self, outputs: Vec<MixerOutput>) -> Result<(), CrError> {
        let _ = outputs;
        Ok(())
    }

    pub fn remove_outputs(&self, filenames: Vec<String>) -> Result<(), CrError> {
        let _ = filenames;
        Ok(())
    }

    pub fn outputs(&self) -> Vec<(String, OutputInfo)> {
        Vec::new()
    }

    pub fn sources(&self) -> Vec<SourceStatus> {
        Vec::new()
    }

    /// Ends every output (each reports state 2) and stops the sources; returns when all is closed.
    pub fn destroy(self) -> Result<(), CrError> {
        Ok(())
    }
}
