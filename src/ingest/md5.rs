//! MD5 with a state that can be stored and resumed (an upload's running MD5 lives in Postgres
//! between PATCHes), and a two-lane mode that advances two MD5s over the same bytes in one pass.
//!
//! Why our own: the running MD5 of the upload and the chunk's own MD5 (its `Upload-Checksum`) cover
//! the same bytes. MD5 is one long dependency chain per block, so one stream leaves most of a core's
//! execution units idle; computing two independent chains side by side over the same message words
//! costs little more than one. The block function follows RustCrypto's `md-5` (MIT/Apache-2.0), and
//! the tests check every path against that crate.

#![allow(
    clippy::many_single_char_names,
    clippy::unreadable_literal,
    clippy::too_many_arguments
)]

const INIT: [u32; 4] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476];

const RC: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501, 0x698098d8,
    0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340,
    0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87,
    0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
    0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039,
    0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92,
    0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
    0xeb86d391,
];

#[inline(always)]
fn f(x: u32, y: u32, z: u32) -> u32 {
    (x & y) | (!x & z)
}
#[inline(always)]
fn g(x: u32, y: u32, z: u32) -> u32 {
    (x & z) | (y & !z)
}
#[inline(always)]
fn h(x: u32, y: u32, z: u32) -> u32 {
    x ^ y ^ z
}
#[inline(always)]
fn i(x: u32, y: u32, z: u32) -> u32 {
    y ^ (x | !z)
}

type Lanes<const L: usize> = [u32; L];

#[inline(always)]
fn step<const L: usize>(
    op: fn(u32, u32, u32) -> u32,
    w: Lanes<L>,
    x: Lanes<L>,
    y: Lanes<L>,
    z: Lanes<L>,
    m: u32,
    c: u32,
    s: u32,
) -> Lanes<L> {
    std::array::from_fn(|l| {
        op(x[l], y[l], z[l])
            .wrapping_add(w[l])
            .wrapping_add(m)
            .wrapping_add(c)
            .rotate_left(s)
            .wrapping_add(x[l])
    })
}

/// Advances `L` MD5 states over the same blocks, side by side.
#[inline(always)]
fn compress<const L: usize>(states: &mut [[u32; 4]; L], blocks: &[[u8; 64]]) {
    for block in blocks {
        let mut m = [0u32; 16];
        for (o, w) in m.iter_mut().zip(block.chunks_exact(4)) {
            *o = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        }
        let mut a: Lanes<L> = std::array::from_fn(|l| states[l][0]);
        let mut b: Lanes<L> = std::array::from_fn(|l| states[l][1]);
        let mut c: Lanes<L> = std::array::from_fn(|l| states[l][2]);
        let mut d: Lanes<L> = std::array::from_fn(|l| states[l][3]);
        macro_rules! four {
            ($op:ident, $k:expr, $m0:expr, $m1:expr, $m2:expr, $m3:expr, $s0:expr, $s1:expr, $s2:expr, $s3:expr) => {
                a = step($op, a, b, c, d, m[$m0], RC[$k], $s0);
                d = step($op, d, a, b, c, m[$m1], RC[$k + 1], $s1);
                c = step($op, c, d, a, b, m[$m2], RC[$k + 2], $s2);
                b = step($op, b, c, d, a, m[$m3], RC[$k + 3], $s3);
            };
        }
        four!(f, 0, 0, 1, 2, 3, 7, 12, 17, 22);
        four!(f, 4, 4, 5, 6, 7, 7, 12, 17, 22);
        four!(f, 8, 8, 9, 10, 11, 7, 12, 17, 22);
        four!(f, 12, 12, 13, 14, 15, 7, 12, 17, 22);
        four!(g, 16, 1, 6, 11, 0, 5, 9, 14, 20);
        four!(g, 20, 5, 10, 15, 4, 5, 9, 14, 20);
        four!(g, 24, 9, 14, 3, 8, 5, 9, 14, 20);
        four!(g, 28, 13, 2, 7, 12, 5, 9, 14, 20);
        four!(h, 32, 5, 8, 11, 14, 4, 11, 16, 23);
        four!(h, 36, 1, 4, 7, 10, 4, 11, 16, 23);
        four!(h, 40, 13, 0, 3, 6, 4, 11, 16, 23);
        four!(h, 44, 9, 12, 15, 2, 4, 11, 16, 23);
        four!(i, 48, 0, 7, 14, 5, 6, 10, 15, 21);
        four!(i, 52, 12, 3, 10, 1, 6, 10, 15, 21);
        four!(i, 56, 8, 15, 6, 13, 6, 10, 15, 21);
        four!(i, 60, 4, 11, 2, 9, 6, 10, 15, 21);
        for l in 0..L {
            states[l][0] = states[l][0].wrapping_add(a[l]);
            states[l][1] = states[l][1].wrapping_add(b[l]);
            states[l][2] = states[l][2].wrapping_add(c[l]);
            states[l][3] = states[l][3].wrapping_add(d[l]);
        }
    }
}

/// A resumable MD5: its whole state is [`Md5::to_bytes`] (24 to 87 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Md5 {
    state: [u32; 4],
    len: u64,
    buf: [u8; 64],
}

impl Default for Md5 {
    fn default() -> Self {
        Md5 {
            state: INIT,
            len: 0,
            buf: [0; 64],
        }
    }
}

impl Md5 {
    fn pos(&self) -> usize {
        (self.len % 64) as usize
    }

    pub fn update(&mut self, mut data: &[u8]) {
        let pos = self.pos();
        if pos > 0 {
            let n = (64 - pos).min(data.len());
            self.buf[pos..pos + n].copy_from_slice(&data[..n]);
            self.len += n as u64;
            data = &data[n..];
            if self.pos() != 0 {
                return;
            }
            let block = self.buf;
            compress::<1>(std::slice::from_mut(&mut self.state).try_into().unwrap(), &[block]);
        }
        let (blocks, rest) = data.as_chunks::<64>();
        compress::<1>(std::slice::from_mut(&mut self.state).try_into().unwrap(), blocks);
        self.buf[..rest.len()].copy_from_slice(rest);
        self.len += data.len() as u64;
    }

    /// Advances `a` and `b` over the same `data`; in one pass when they are at the same place in
    /// their blocks (a chunk that starts at a multiple of 64 bytes: every tus client's chunks).
    pub fn update_both(a: &mut Md5, b: &mut Md5, mut data: &[u8]) {
        if a.pos() != b.pos() {
            a.update(data);
            b.update(data);
            return;
        }
        if a.pos() > 0 {
            let n = (64 - a.pos()).min(data.len());
            a.update(&data[..n]);
            b.update(&data[..n]);
            data = &data[n..];
        }
        let (blocks, rest) = data.as_chunks::<64>();
        let mut st = [a.state, b.state];
        compress::<2>(&mut st, blocks);
        [a.state, b.state] = st;
        let whole = (blocks.len() * 64) as u64;
        a.len += whole;
        b.len += whole;
        a.update(rest);
        b.update(rest);
    }

    pub fn digest(&self) -> [u8; 16] {
        let mut st = [self.state];
        let pos = self.pos();
        let mut block = [0u8; 64];
        block[..pos].copy_from_slice(&self.buf[..pos]);
        block[pos] = 0x80;
        let bits = self.len.wrapping_mul(8).to_le_bytes();
        if pos >= 56 {
            compress::<1>(&mut st, &[block]);
            block = [0u8; 64];
        }
        block[56..].copy_from_slice(&bits);
        compress::<1>(&mut st, &[block]);
        let mut out = [0u8; 16];
        for (o, v) in out.chunks_exact_mut(4).zip(st[0]) {
            o.copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub fn hex(&self) -> String {
        hex::encode(self.digest())
    }

    /// The state: 4 words and the length (little-endian), then the bytes of the unfinished block.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(24 + self.pos());
        for w in self.state {
            v.extend_from_slice(&w.to_le_bytes());
        }
        v.extend_from_slice(&self.len.to_le_bytes());
        v.extend_from_slice(&self.buf[..self.pos()]);
        v
    }

    pub fn from_bytes(b: &[u8]) -> Option<Md5> {
        if b.len() < 24 {
            return None;
        }
        let word = |i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
        let len = u64::from_le_bytes(b[16..24].try_into().unwrap());
        let rest = &b[24..];
        if rest.len() != (len % 64) as usize {
            return None;
        }
        let mut buf = [0u8; 64];
        buf[..rest.len()].copy_from_slice(rest);
        Some(Md5 {
            state: [word(0), word(1), word(2), word(3)],
            len,
            buf,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Md5;
    use ::md5::Digest;

    fn oracle(d: &[u8]) -> String {
        hex::encode(::md5::Md5::digest(d))
    }

    #[test]
    fn equals_rustcrypto_md5_for_every_length_and_split() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 + i / 7) as u8).collect();
        for n in (0..200).chain([1000, 4095, 4096, 4097, 5000]) {
            let mut h = Md5::default();
            h.update(&data[..n]);
            assert_eq!(h.hex(), oracle(&data[..n]), "length {n}");
            for cut in [0, 1, 55, 56, 63, 64, 65, n / 2] {
                let cut = cut.min(n);
                let mut h = Md5::default();
                h.update(&data[..cut]);
                let mut h = Md5::from_bytes(&h.to_bytes()).unwrap();
                h.update(&data[cut..n]);
                assert_eq!(h.hex(), oracle(&data[..n]), "length {n} cut {cut}");
            }
        }
    }

    #[test]
    fn two_lanes_equal_two_separate_md5s() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i ^ (i >> 9)) as u8).collect();
        for (start, chunk) in [(0, 100_000), (4096, 200_000), (1000, 150_001), (64 * 3, 77), (5, 3)] {
            let mut running = Md5::default();
            running.update(&data[..start]);
            let mut chunk_md5 = Md5::default();
            // in uneven pieces, as frames arrive
            let mut at = start;
            for piece in [1, 63, 4096, 13, 65536, usize::MAX] {
                let end = at.saturating_add(piece).min(start + chunk);
                Md5::update_both(&mut running, &mut chunk_md5, &data[at..end]);
                at = end;
            }
            assert_eq!(running.hex(), oracle(&data[..start + chunk]), "{start} {chunk}");
            assert_eq!(chunk_md5.hex(), oracle(&data[start..start + chunk]), "{start} {chunk}");
        }
    }

    #[test]
    fn a_damaged_state_is_refused() {
        assert!(Md5::from_bytes(&[1, 2, 3]).is_none());
        let mut h = Md5::default();
        h.update(b"abc");
        let mut b = h.to_bytes();
        b.pop();
        assert!(Md5::from_bytes(&b).is_none());
    }
}
