//! Cheap structural checks of H.264 packets in AVCC form (length-prefixed NAL units, as FLV and MP4
//! carry them), run on every video packet before it is copied. No pixel is decoded; the checks cost
//! about one pass over the bytes (word at a time), a few percent of the remux.
//!
//! They catch what the container cannot: NAL lengths that do not add up to the packet, illegal NAL
//! headers (malformed: the packet is dropped), a zeroed run inside a NAL (three zero bytes, or
//! `00 00 01`/`00 00 02`, can never occur inside an escaped NAL payload: the encoder inserts
//! emulation-prevention bytes; zeroed blocks are what a crash or a bad sector leaves in a file), and
//! impossible slice headers (slice type, picture parameter set id): suspect, confirmed by decoding.
//! Garbage that keeps all of that intact (random bytes inside entropy-coded slice data) is only
//! visible to a decoder: see `verify`.

/// What the structural checks make of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Sound,
    /// The NAL length structure is broken: the packet cannot be parsed at all.
    Malformed(&'static str),
    /// Parsable, but with something no conformant encoder writes.
    Suspect(&'static str),
}

/// Checks an AVCC packet whose NAL lengths take `len_size` bytes.
pub fn check_avcc(data: &[u8], len_size: usize) -> Verdict {
    let mut pos = 0;
    if data.is_empty() {
        return Verdict::Malformed("empty packet");
    }
    let mut suspect = None;
    while pos < data.len() {
        let Some(l) = data.get(pos..pos + len_size) else {
            return Verdict::Malformed("NAL length cut");
        };
        let len = l.iter().fold(0usize, |a, b| (a << 8) | *b as usize);
        pos += len_size;
        if len == 0 || pos + len > data.len() {
            return Verdict::Malformed("NAL lengths do not add up to the packet");
        }
        let nal = &data[pos..pos + len];
        let header = nal[0];
        // forbidden_zero_bit clear, and a NAL type that exists (1..=23).
        if header & 0x80 != 0 || !(1..=23).contains(&(header & 0x1f)) {
            return Verdict::Malformed("illegal NAL header");
        }
        pos += len;
        if suspect.is_some() {
            continue;
        }
        // Some muxers keep Annex B trailing zero bytes inside the NAL: legal enough, ignored.
        let body = &nal[1..];
        let end = body.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        if has_start_code_or_zero_run(&body[..end]) {
            suspect = Some("zero run inside a NAL");
        } else if matches!(header & 0x1f, 1 | 5) && !slice_header_ok(body, header & 0x1f == 5) {
            suspect = Some("impossible slice header");
        }
    }
    suspect.map_or(Verdict::Sound, Verdict::Suspect)
}

/// Whether `b` holds `00 00 00`, `00 00 01` or `00 00 02`, none of which may appear inside a NAL.
fn has_start_code_or_zero_run(b: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    // Word at a time: skip 8 bytes without a zero byte (the common case by far).
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if (w.wrapping_sub(LO) & !w & HI) == 0 {
            i += 8;
            continue;
        }
        // A zero byte somewhere in this word: look at each zero closely.
        for j in i..i + 8 {
            if b[j] == 0 && b.get(j + 1) == Some(&0) && b.get(j + 2).is_some_and(|x| *x <= 2) {
                return true;
            }
        }
        i += 8;
    }
    for j in i..b.len() {
        if b[j] == 0 && b.get(j + 1) == Some(&0) && b.get(j + 2).is_some_and(|x| *x <= 2) {
            return true;
        }
    }
    false
}

/// Exp-Golomb reader over the first bytes of a slice header (emulation prevention ignored: the
/// three fields read here sit in the first few bytes, before any 00 00 03 is likely).
struct Bits<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.b.get(self.pos / 8)?;
        let v = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(v as u32)
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let mut v = 0u32;
        for _ in 0..zeros {
            v = (v << 1) | self.bit()?;
        }
        Some(((1u64 << zeros) - 1 + v as u64).min(u32::MAX as u64) as u32)
    }
}

/// first_mb_in_slice, slice_type (0..=9; I or SI in an IDR picture), pic_parameter_set_id (0..=255).
fn slice_header_ok(rbsp: &[u8], idr: bool) -> bool {
    let mut r = Bits { b: rbsp, pos: 0 };
    let (Some(_first_mb), Some(slice_type), Some(pps)) = (r.ue(), r.ue(), r.ue()) else {
        return false;
    };
    slice_type <= 9 && pps <= 255 && (!idr || matches!(slice_type % 5, 2 | 4))
}

/// Bytes per NAL length prefix in an avcC record.
pub(super) fn avcc_length_size(extra: &[u8]) -> Option<usize> {
    (extra.len() > 5 && extra[0] == 1).then(|| (extra[4] & 3) as usize + 1)
}

/// The SPS and PPS of an avcC record, each length-prefixed (4 bytes), ready to prepend to a packet.
pub(super) fn avcc_parameter_sets(extra: &[u8]) -> Option<Vec<u8>> {
    if avcc_length_size(extra)? != 4 {
        return None;
    }
    let mut out = Vec::new();
    let mut pos = 5;
    for count_mask in [0x1f_u8, 0xff] {
        let n = (*extra.get(pos)? & count_mask) as usize;
        pos += 1;
        for _ in 0..n {
            let len = u16::from_be_bytes([*extra.get(pos)?, *extra.get(pos + 1)?]) as usize;
            let nal = extra.get(pos + 2..pos + 2 + len)?;
            out.extend_from_slice(&(len as u32).to_be_bytes());
            out.extend_from_slice(nal);
            pos += 2 + len;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_structure_check() {
        // IDR slice: first_mb 0 (1), slice_type 7 (0001000), pps 0 (1) -> 1 0001000 1 = 0xc4 0x40...
        // IDR slice: first_mb 0 (1), slice_type 7 (0001000), pps 0 (1): 1000 1000 1...
        let good = [0, 0, 0, 3, 0x65, 0x88, 0x80, 0, 0, 0, 2, 0x41, 0x9a];
        assert_eq!(check_avcc(&good, 4), Verdict::Sound);
        let malformed = |d: &[u8]| matches!(check_avcc(d, 4), Verdict::Malformed(_));
        assert!(malformed(&good[..12]), "short");
        assert!(malformed(&[0, 0, 0, 3, 0xe5, 1, 2]), "forbidden bit");
        assert!(malformed(&[0, 0, 0, 2, 0x00, 1]), "type 0");
        assert!(malformed(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]), "garbage");
        // Trailing zero bytes (kept from Annex B by some muxers) are tolerated.
        assert_eq!(check_avcc(&[0, 0, 0, 5, 0x41, 0x9a, 0, 0, 0], 4), Verdict::Sound);
    }

    #[test]
    fn zero_runs_inside_a_nal_are_caught_and_escapes_are_not() {
        let mut nal = vec![0x41, 0x9a];
        nal.extend(std::iter::repeat_n(0x55u8, 40));
        nal.extend([0, 0, 3, 0, 0x55]); // an escaped zero run: legal
        nal.extend(std::iter::repeat_n(0x55u8, 40));
        let mut pkt = (nal.len() as u32).to_be_bytes().to_vec();
        pkt.extend(&nal);
        assert_eq!(check_avcc(&pkt, 4), Verdict::Sound);
        // A zeroed block in the middle, as a bad sector leaves it.
        for at in [5, 20, 30, 60] {
            let mut bad = pkt.clone();
            for b in &mut bad[at..at + 16] {
                *b = 0;
            }
            assert!(matches!(check_avcc(&bad, 4), Verdict::Suspect(_)), "zeroed at {at}");
        }
    }

    #[test]
    fn impossible_slice_headers_are_caught() {
        // IDR with slice_type 0 (P): 1 1 1 -> first_mb 0, slice_type 0, pps 0 -> 0xe0 (+ stop bit).
        let p_in_idr = [0, 0, 0, 2, 0x65, 0xe1];
        assert!(matches!(check_avcc(&p_in_idr, 4), Verdict::Suspect(_)));
        let p_slice = [0, 0, 0, 2, 0x41, 0xe1];
        assert_eq!(check_avcc(&p_slice, 4), Verdict::Sound);
    }
}
