//! How a slice's streams are taken, decided before its first packet is read: its video as it is
//! or re-encoded to the reference, its parameter sets in-band or not, and its audio if it matches.

use crate::splice::ffparams::{audio_format, extradata, video_dims, video_out_of_bounds};
use crate::splice::h264::{avcc_length_size, avcc_parameter_sets};
use crate::splice::reencode::Reencoder;
use crate::splice::reference::Reference;
use crate::splice::{SliceOutcome, SliceReport};
use ffmpeg::codec::{self, Id};
use ffmpeg::format::context::Input;
use ffmpeg::{media, Rational};
use ffmpeg_next as ffmpeg;

/// What is decided about a slice before its first packet is read.
pub(super) struct Streams {
    pub(super) video: usize,
    pub(super) video_tb: Rational,
    pub(super) video_params: codec::Parameters,
    /// Set when the slice's video differs from the reference's (size or codec).
    pub(super) reencoder: Option<Reencoder>,
    /// The parameter sets its keyframes carry, should the output need them in-band.
    pub(super) sets: Option<Vec<u8>>,
    /// The output needs in-band parameter sets from this slice on.
    pub(super) in_band: bool,
    pub(super) nal_len: usize,
    /// (index, time base) of its audio, if that has the reference's codec and rate.
    pub(super) audio: Option<(usize, Rational)>,
}

impl Streams {
    /// The slice's streams as the output takes them; Err(reason): the slice cannot be taken.
    pub(super) fn pick(
        input: &Input,
        r: &Reference,
        ref_extra: &[u8],
        rep: &mut SliceReport,
    ) -> Result<Streams, String> {
        let vs = input.streams().best(media::Type::Video).ok_or("no video stream")?;
        let (video, video_tb, video_params) = (vs.index(), vs.time_base(), vs.parameters());
        if let Some(why) = video_out_of_bounds(&video_params, vs.avg_frame_rate()) {
            return Err(why);
        }
        let reencoder = reencoder_for(&video_params, video_tb, r)?;
        if reencoder.is_some() {
            rep.outcome = SliceOutcome::Reencoded;
        }
        let (sets, in_band) = match &reencoder {
            Some(re) => (Some(re.param_sets.clone()), true),
            None => {
                let own = extradata(&video_params);
                (avcc_parameter_sets(&own), own != ref_extra)
            }
        };
        let nal_len = avcc_length_size(&extradata(&video_params)).unwrap_or(4);
        let audio = matching_audio(input, r);
        rep.has_audio = audio.is_some();
        Ok(Streams {
            video,
            video_tb,
            video_params,
            reencoder,
            sets,
            in_band,
            nal_len,
            audio,
        })
    }
}

/// A re-encoder to the reference's size and codec if the slice's video differs from it.
fn reencoder_for(vp: &codec::Parameters, vtb: Rational, r: &Reference) -> Result<Option<Reencoder>, String> {
    if vp.id() == r.video_id && video_dims(vp) == (r.width, r.height) {
        return Ok(None);
    }
    if r.video_id != Id::H264 {
        let (w, h) = video_dims(vp);
        return Err(format!(
            "video is {:?} {w}x{h}; only H.264 output can take re-encoded slices",
            vp.id()
        ));
    }
    Reencoder::new(vp, vtb, r.width, r.height, r.fps)
        .map(Some)
        .map_err(|e| format!("cannot re-encode: {e:#}"))
}

/// The slice's audio stream, if it has the reference's codec and sample rate (else it is left out).
fn matching_audio(input: &Input, r: &Reference) -> Option<(usize, Rational)> {
    let s = input.streams().best(media::Type::Audio)?;
    let (sr, _) = audio_format(&s.parameters());
    let same = r
        .audio
        .as_ref()
        .is_some_and(|a| a.id == s.parameters().id() && a.sample_rate == sr);
    same.then(|| (s.index(), s.time_base()))
}
