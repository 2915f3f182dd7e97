//! FFmpeg input devices (x11grab, gdigrab, avfoundation, pulse, alsa): open, decode, convert to
//! the engine's formats, stamp with the capture instant.

use super::{stopped, Error, Input, AUDIO_RATE};
use ffmpeg::format::{Pixel, Sample};
use ffmpeg::software::{resampling, scaling};
use ffmpeg::util::channel_layout::ChannelLayout;
use ffmpeg::{frame, media, Dictionary};
use ffmpeg_next as ffmpeg;
use std::ffi::CString;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::Instant;

/// Opens `input` with FFmpeg's input device `format` and its options.
pub fn open(format: &str, input: &str, options: &[(String, String)]) -> Result<ffmpeg::format::context::Input, Error> {
    let name = CString::new(format).map_err(Error::BadDeviceName)?;
    // SAFETY: av_find_input_format only reads the name; the returned pointer is static.
    let fmt = unsafe { ffmpeg::ffi::av_find_input_format(name.as_ptr()) };
    if fmt.is_null() {
        return Err(Error::NoDevice(format.to_owned()));
    }
    let mut dict = Dictionary::new();
    for (k, v) in options {
        dict.set(k, v);
    }
    // SAFETY: fmt is a valid, static AVInputFormat.
    let fmt = ffmpeg::Format::Input(unsafe { ffmpeg::format::Input::wrap(fmt as *mut _) });
    match ffmpeg::format::open_with(input, &fmt, dict) {
        Ok(ffmpeg::format::context::Context::Input(i)) => Ok(i),
        Ok(_) => Err(Error::NotAnInput),
        Err(source) => Err(Error::Device {
            format: format.to_owned(),
            input: input.to_owned(),
            source,
        }),
    }
}

/// The device's best stream of `kind`: its index and a decoder for it.
fn best_stream(
    ictx: &ffmpeg::format::context::Input,
    kind: media::Type,
) -> Result<(usize, ffmpeg::decoder::Decoder), Error> {
    let what = if kind == media::Type::Audio { "audio" } else { "video" };
    let stream = ictx.streams().best(kind).ok_or(Error::NoStream(what))?;
    let decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .map_err(decoder_error(what))?
        .decoder();
    Ok((stream.index(), decoder))
}

fn decoder_error(kind: &'static str) -> impl FnOnce(ffmpeg::Error) -> Error {
    move |source| Error::Decoder { kind, source }
}

/// Starts a thread that grabs video from the device, converted to even-sized YUV420P.
pub fn video(
    format: &str,
    input: &str,
    options: Vec<(String, String)>,
    tx: SyncSender<Input>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, Error> {
    let mut ictx = open(format, input, &options)?;
    let (index, decoder) = best_stream(&ictx, media::Type::Video)?;
    let mut decoder = decoder.video().map_err(decoder_error("video"))?;
    let (format, input) = (format.to_owned(), input.to_owned());
    Ok(std::thread::spawn(move || {
        let mut decoded = frame::Video::empty();
        let mut scaler: Option<scaling::Context> = None;
        // The encoder's size is the first frame's; a window resized later is scaled to it.
        let mut size: Option<(u32, u32)> = None;
        let mut packets = ictx.packets();
        loop {
            if stopped(&stop) {
                return;
            }
            let Some((s, packet)) = packets.next() else {
                let _ = tx.send(Input::VideoFailed(Error::VideoEnded { format, input }));
                return;
            };
            let at = Instant::now();
            if s.index() != index || decoder.send_packet(&packet).is_err() {
                continue;
            }
            while decoder.receive_frame(&mut decoded).is_ok() {
                let (w, h, f) = (decoded.width(), decoded.height(), decoded.format());
                let (ow, oh) = *size.get_or_insert(((w & !1).max(2), (h & !1).max(2)));
                let sc = match &mut scaler {
                    Some(s) if s.input().width == w && s.input().height == h && s.input().format == f => s,
                    slot => match scaling::Context::get(f, w, h, Pixel::YUV420P, ow, oh, scaling::Flags::BILINEAR) {
                        Ok(s) => slot.insert(s),
                        Err(e) => {
                            let _ = tx.send(Input::VideoFailed(Error::Scaler(e)));
                            return;
                        }
                    },
                };
                let mut out = frame::Video::empty();
                if sc.run(&decoded, &mut out).is_err() || tx.send(Input::Video(out, at)).is_err() {
                    return;
                }
            }
        }
    }))
}

/// Starts a thread that records from an audio device, converted to f32 stereo at 44.1 kHz.
pub fn audio(
    format: &str,
    input: &str,
    tx: SyncSender<Input>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, Error> {
    let mut ictx = open(format, input, &[])?;
    let (index, decoder) = best_stream(&ictx, media::Type::Audio)?;
    let mut decoder = decoder.audio().map_err(decoder_error("audio"))?;
    Ok(std::thread::spawn(move || {
        let mut decoded = frame::Audio::empty();
        let mut conv = ToMixerFormat::default();
        for (s, packet) in ictx.packets() {
            if stopped(&stop) {
                return;
            }
            let at = Instant::now();
            if s.index() != index || decoder.send_packet(&packet).is_err() {
                continue;
            }
            while decoder.receive_frame(&mut decoded).is_ok() {
                let samples = match conv.convert(&mut decoded) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Input::AudioFailed(Error::Resampler(e)));
                        return;
                    }
                };
                if tx.send(Input::Audio(samples, at)).is_err() {
                    return;
                }
            }
        }
        let _ = tx.send(Input::AudioFailed(Error::AudioEnded));
    }))
}

/// Converts decoded sound of any format, rate and layout to the engine's (interleaved f32
/// stereo at [`AUDIO_RATE`]); the resampler is made again when the input changes.
#[derive(Default)]
pub struct ToMixerFormat {
    swr: Option<resampling::Context>,
}

impl ToMixerFormat {
    pub fn convert(&mut self, decoded: &mut frame::Audio) -> Result<Vec<f32>, ffmpeg::Error> {
        let packed = Sample::F32(ffmpeg::format::sample::Type::Packed);
        let mut layout = decoded.channel_layout();
        if layout.is_empty() {
            // Devices often leave the layout unset; the resampler insists on the frame's
            // matching the one it was made for.
            layout = ChannelLayout::default(decoded.channels().into());
            decoded.set_channel_layout(layout);
        }
        let (f, rate) = (decoded.format(), decoded.rate());
        let sw = match &mut self.swr {
            Some(s) if s.input().format == f && s.input().rate == rate && s.input().channel_layout == layout => s,
            slot => slot.insert(resampling::Context::get(
                f,
                layout,
                rate,
                packed,
                ChannelLayout::STEREO,
                AUDIO_RATE,
            )?),
        };
        let cap = decoded.samples() * AUDIO_RATE as usize / rate.max(1) as usize + 256;
        let mut out = frame::Audio::new(packed, cap, ChannelLayout::STEREO);
        sw.run(decoded, &mut out)?;
        let bytes = &out.data(0)[..out.samples() * 8];
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}
