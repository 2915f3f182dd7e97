//! A picture file (png, jpg, bmp, ...) decoded once; the file is hostile: its declared size is
//! checked before decoding and reading stops after a bounded number of packets.

use super::stream::{check_size, open_file, Converter};
use super::Slot;
use ffmpeg::{frame, media, Packet};
use ffmpeg_next as ffmpeg;

/// Packets read at most while looking for the first picture.
const MAX_PACKETS: usize = 64;
/// The largest picture file read: image2 reads a whole file as one packet.
const MAX_BYTES: u64 = 64 << 20;

pub fn load(path: &str, slot: &Slot) -> Result<(), String> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_BYTES) {
        return Err(format!("{path}: larger than {} MiB", MAX_BYTES >> 20));
    }
    let mut ictx = open_file(path)?;
    let stream = ictx.streams().best(media::Type::Video).ok_or("not a picture")?;
    let index = stream.index();
    let ctx = ffmpeg::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| e.to_string())?;
    let mut decoder = ctx.decoder().video().map_err(|e| format!("{path}: {e}"))?;
    check_size(decoder.width(), decoder.height())?;
    let mut decoded = frame::Video::empty();
    for _ in 0..MAX_PACKETS {
        // A fresh packet each time: av_read_frame does not release what a packet still holds.
        let mut packet = Packet::empty();
        match packet.read(&mut ictx) {
            Ok(()) if packet.stream() == index => {
                let _ = decoder.send_packet(&packet);
            }
            Ok(()) => continue,
            Err(_) => {
                let _ = decoder.send_eof();
            }
        }
        if decoder.receive_frame(&mut decoded).is_ok() {
            slot.publish(Converter::default().convert(decoded)?);
            return Ok(());
        }
    }
    Err(format!("{path}: no picture could be decoded"))
}
