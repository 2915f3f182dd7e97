//! Stands in for `mixer::output::Outputs` until the outputs branch lands (the mixer does not
//! run before either): every output is refused. Removed at the merge.

use crate::mixer::types::{err, CrError, EventSink, MixerOutput, OutputEnv, OutputInfo, OutputSet, Streams};
use ffmpeg_next::Packet;

pub struct Outputs;

impl Outputs {
    pub fn new(_mixer_id: String, _env: OutputEnv, _events: EventSink) -> Outputs {
        Outputs
    }
}

impl OutputSet for Outputs {
    fn add(&mut self, _out: &MixerOutput, _streams: &Streams) -> Result<(), CrError> {
        Err(CrError::new(err::INNER_ERR, "outputs are not built yet"))
    }
    fn remove(&mut self, filename: &str) -> Result<(), CrError> {
        Err(CrError::new(err::FILE_NOT_EXIST, format!("no output {filename}")))
    }
    fn video(&mut self, _packet: &Packet, _ms: i64) {}
    fn audio(&mut self, _packet: &Packet, _ms: i64) {}
    fn pcm(&mut self, _interleaved: &[f32], _start_ms: i64) {}
    fn list(&self) -> Vec<(String, OutputInfo)> {
        Vec::new()
    }
    fn close_all(&mut self) {}
}
