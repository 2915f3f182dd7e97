//! One pass of a splice: the reference picked, a writer made for it, every slice through the
//! packet loop into the [`Muxer`], and the writer thread joined.

use super::muxer::{Muxer, IN_FLIGHT_BYTES};
use super::{Sealing, Splice};
use crate::splice::budget;
use crate::splice::clock::Place;
use crate::splice::ffparams::codec_name;
use crate::splice::mp4::Mp4Writer;
use crate::splice::reference::{reference, Reference};
use crate::splice::sink::{libav_sink, own_tracks, Sink, OWN_VIDEO_TIMESCALE};
use crate::splice::slice::{splice_one, SliceCtx, SliceIn};
use crate::splice::timeline::Micros;
use crate::splice::{SliceOutcome, SliceReport, Summary};
use anyhow::{bail, Context};
use ffmpeg::{Packet, Rational};
use ffmpeg_next as ffmpeg;
use std::path::Path;

/// The writer placed packets go to, with the video and audio time bases it takes them in.
/// `moov_room`: Some, the index goes into that room at the front (our own writer when it takes
/// the codecs, else libavformat's `moov_size`); None, libavformat's faststart pass. A sealed
/// splice is always our own writer, sealed.
fn make_sink(
    r: &Reference,
    output: &Path,
    moov_room: Option<u64>,
    sealing: Option<&Sealing>,
) -> anyhow::Result<(Sink, Rational, Option<Rational>)> {
    let created = || format!("creating {}", output.display());
    let a_tb = r.audio.as_ref().map(|a| Rational::new(1, a.sample_rate as i32));
    let v_tb = Rational::new(1, OWN_VIDEO_TIMESCALE as i32);
    if let Some(s) = sealing {
        let Some(tracks) = own_tracks(r) else {
            bail!("an encrypted recording takes H.264 video with AAC or no audio; these slices hold other codecs");
        };
        let w = Mp4Writer::create_sealed(output, tracks, &s.output).with_context(created)?;
        return Ok((Sink::Own(w), v_tb, a_tb));
    }
    match (own_tracks(r), moov_room) {
        (Some(tracks), Some(room)) => {
            let w = Mp4Writer::create(output, tracks, room).with_context(created)?;
            Ok((Sink::Own(w), v_tb, a_tb))
        }
        _ => libav_sink(r, output, moov_room),
    }
}

impl Splice<'_> {
    /// One pass over every slice into the MP4 (see [`make_sink`] for `moov_room`).
    pub(super) fn run(&self, moov_room: Option<u64>) -> anyhow::Result<Summary> {
        let keys = self.sealing.map(|s| &s.inputs[..]);
        let r = reference(self.inputs, keys, self.progress)?;
        let (sink, v_tb, a_tb) = make_sink(&r, self.output, moov_room, self.sealing)?;
        // Memory stays bounded: at most IN_FLIGHT_BYTES of packets between the threads.
        let (tx, rx) = budget::channel::<Vec<Packet>>(IN_FLIGHT_BYTES);
        let writer = std::thread::spawn(move || sink.run(rx, moov_room));
        let mut mux = Muxer::new(tx, &r, v_tb, a_tb);
        // A cancelled read returns at once: the writer thread finishes on its own once `mux` drops.
        let reports = self.slices(&mut mux, &r)?;
        let end = mux.end();
        let flushed = mux.flush();
        drop(mux);
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("the MP4 writer panicked"))??;
        flushed?;
        if self.progress.cancelled() {
            bail!("cancelled");
        }
        self.summary(&r, end, reports)
    }

    /// Every slice, in order, into `mux`: a slice that fails is skipped, with its reason.
    fn slices(&self, mux: &mut Muxer, r: &Reference) -> anyhow::Result<Vec<SliceReport>> {
        let keys = self.sealing.map(|s| &s.inputs[..]);
        let mut ctx = SliceCtx::new(r, self.progress);
        let mut reports = Vec::with_capacity(self.inputs.len());
        for (i, path) in self.inputs.iter().enumerate() {
            if self.progress.cancelled() {
                bail!("cancelled");
            }
            let mut rep = SliceReport::copied(path.clone());
            let mut slice = SliceIn::at(path, self.known.get(i).and_then(|k| k.as_deref()));
            slice.key = keys.and_then(|k| k.get(i));
            if let Err(why) = splice_one(mux, &mut ctx, slice, &mut rep) {
                rep.outcome = SliceOutcome::Skipped;
                rep.note = Some(why);
            }
            reports.push(rep);
        }
        Ok(reports)
    }

    fn summary(&self, r: &Reference, end: Micros, slices: Vec<SliceReport>) -> anyhow::Result<Summary> {
        Ok(Summary {
            output: self.output.to_owned(),
            size: std::fs::metadata(self.output)?.len(),
            duration_ms: end / 1000,
            width: r.width,
            height: r.height,
            video_codec: codec_name(r.video_id),
            audio_codec: r.audio.as_ref().map(|a| codec_name(a.id)),
            slices,
            elapsed_ms: self.started.elapsed().as_millis() as u64,
            parallel: false,
        })
    }
}
