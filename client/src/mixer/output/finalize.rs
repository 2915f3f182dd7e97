//! Turning a fragmented MP4 (what an mp4 output is while recording) into a normal one with its
//! index first (faststart): the packets are copied as they are into a hidden file beside it,
//! which is fsynced and renamed over the original. A crash at any point leaves either the
//! fragmented file (complete, playable) or the final one, never neither; [`repair`] redoes what
//! a crash interrupted.

use super::super::types::{err, CrError};
use super::sink;
use ffmpeg_next as ffmpeg;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The hidden file the final MP4 is written to before the rename.
fn temp_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.finalising"))
}

/// Rewrites the fragmented MP4 at `path` as a normal, faststart MP4 in place. Returns its size.
/// On failure (a full disk) the fragmented file stays as it was.
pub fn mp4_in_place(path: &Path) -> Result<u64, CrError> {
    let tmp = temp_for(path);
    // Ours, left by a crash in the middle of this very step: the fragmented file is still whole.
    let _ = std::fs::remove_file(&tmp);
    let r = remux(path, &tmp);
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r?;
    let what = format!("finalising {}", path.display());
    let io = |e: std::io::Error| sink::io_error(&e, &what);
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    crate::durable::sync_dir(
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
    .map_err(io)?;
    Ok(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
}

fn remux(from: &Path, to: &Path) -> Result<(), CrError> {
    let ff = |what: &'static str| {
        move |e: ffmpeg::Error| CrError::new(sink::ffmpeg_code(&e), format!("{what} {}: {e}", from.display()))
    };
    // Claims the name first (never over someone else's file), FFmpeg then opens it by path
    // because faststart reads the file back.
    std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(|e| sink::io_error(&e, "creating the final mp4"))?;
    let mut ictx = ffmpeg::format::input(from).map_err(ff("reading"))?;
    let mut octx = ffmpeg::format::output_as(to, "mp4").map_err(ff("writing the final mp4 of"))?;
    let mut tbs = Vec::new();
    for st in ictx.streams() {
        let mut o = octx
            .add_stream(ffmpeg::encoder::find(ffmpeg::codec::Id::None))
            .map_err(ff("copying"))?;
        o.set_parameters(st.parameters());
        o.set_time_base(st.time_base());
        // SAFETY: the new stream's own parameters; mp4 picks its tag.
        unsafe { (*o.parameters().as_mut_ptr()).codec_tag = 0 };
        tbs.push(st.time_base());
    }
    let mut opts = ffmpeg::Dictionary::new();
    opts.set("movflags", "faststart");
    octx.write_header_with(opts).map_err(ff("writing the final mp4 of"))?;
    for (st, mut p) in ictx.packets() {
        let i = st.index();
        let out_tb = octx
            .stream(i)
            .map(|s| s.time_base())
            .ok_or_else(|| ff("copying")(ffmpeg::Error::StreamNotFound))?;
        p.rescale_ts(tbs[i], out_tb);
        p.set_position(-1);
        p.write_interleaved(&mut octx).map_err(ff("copying"))?;
    }
    octx.write_trailer().map_err(ff("finishing the final mp4 of"))?;
    Ok(())
}

/// Whether an MP4 file is fragmented (an mp4 output a crash left unfinished): it has a `moof` box.
pub fn is_fragmented(path: &Path) -> std::io::Result<bool> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut pos = 0u64;
    // The top-level boxes: ftyp, moov, then moof/mdat pairs (fragmented) or mdat (normal).
    for _ in 0..16 {
        if pos + 8 > len {
            return Ok(false);
        }
        let mut head = [0u8; 16];
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(pos))?;
        let n = f.read(&mut head)?;
        if n < 8 {
            return Ok(false);
        }
        if &head[4..8] == b"moof" {
            return Ok(true);
        }
        let size = match u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as u64 {
            1 if n >= 16 => u64::from_be_bytes(head[8..16].try_into().expect("8 bytes")),
            0..8 => return Ok(false),
            s => s,
        };
        pos = pos.saturating_add(size);
    }
    Ok(false)
}

/// Finishes a file an output left when the recorder was killed: a fragmented mp4 becomes a
/// normal one (a crash cut is already playable; this makes it seekable everywhere). flv, ts and
/// mp3 need nothing. Returns whether the file was changed.
pub fn repair(path: &Path) -> Result<bool, CrError> {
    let is_mp4 = super::spec::Format::from_name(&path.to_string_lossy()) == Some(super::spec::Format::Mp4);
    let frag = is_fragmented(path).map_err(|e| CrError::new(err::FILE_READ_ERR, format!("{}: {e}", path.display())))?;
    if !is_mp4 || !frag {
        return Ok(false);
    }
    mp4_in_place(path)?;
    Ok(true)
}
