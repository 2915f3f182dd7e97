//! The mixer's picture: one YUV420P frame of the canvas size, cleared to black at every tick,
//! with rectangles filled and pictures copied in, clipped to the canvas. Cells are placed on even
//! coordinates so the half-resolution chroma planes line up with the luma.

use ffmpeg::format::Pixel;
use ffmpeg::frame;
use ffmpeg_next as ffmpeg;

/// A colour in limited-range BT.601 YUV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Yuv(pub u8, pub u8, pub u8);

pub const BLACK: Yuv = Yuv(16, 128, 128);
/// What a failed source's cell shows.
pub const PLACEHOLDER: Yuv = Yuv(48, 128, 128);

impl Yuv {
    pub fn from_rgb(r: u8, g: u8, b: u8) -> Yuv {
        let (r, g, b) = (r as f32, g as f32, b as f32);
        let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
        let u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
        let v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
        Yuv(y.round() as u8, u.round() as u8, v.round() as u8)
    }
}

/// A rectangle in canvas pixels (may reach outside the canvas).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    /// The rectangle moved and shrunk onto even coordinates and sizes.
    pub fn even(self) -> Rect {
        Rect {
            x: self.x & !1,
            y: self.y & !1,
            w: self.w & !1,
            h: self.h & !1,
        }
    }

    /// The largest rectangle of `w`:`h` centred in this one (even, at least 2x2).
    pub fn fit(self, w: u32, h: u32) -> Rect {
        let (cw, ch) = (self.w as i64, self.h as i64);
        let (w, h) = (w.max(1) as i64, h.max(1) as i64);
        let (dw, dh) = if cw * h <= ch * w {
            (cw, (cw * h / w).max(2))
        } else {
            ((ch * w / h).max(2), ch)
        };
        let (dw, dh) = (dw as i32 & !1, dh as i32 & !1);
        Rect {
            x: (self.x + (self.w - dw) / 2) & !1,
            y: (self.y + (self.h - dh) / 2) & !1,
            w: dw,
            h: dh,
        }
    }
}

pub struct Canvas {
    pub frame: frame::Video,
    w: i32,
    h: i32,
}

impl Canvas {
    pub fn new(width: u32, height: u32) -> Canvas {
        Canvas {
            frame: frame::Video::new(Pixel::YUV420P, width, height),
            w: width as i32,
            h: height as i32,
        }
    }

    /// Black all over. The encoder may still hold a reference to the last picture's buffer:
    /// that buffer is left alone and a fresh one taken.
    pub fn clear(&mut self) {
        // SAFETY: a valid, allocated frame owned by self; on failure it keeps its buffer.
        unsafe { ffmpeg::ffi::av_frame_make_writable(self.frame.as_mut_ptr()) };
        self.fill(
            Rect {
                x: 0,
                y: 0,
                w: self.w,
                h: self.h,
            },
            BLACK,
        );
    }

    /// Whether any of `r` is on the canvas.
    pub fn shows(&self, r: Rect) -> bool {
        self.clip(r, 0).is_some()
    }

    /// `r` clipped to the canvas, in plane `p` coordinates: (x0, y0, x1, y1).
    fn clip(&self, r: Rect, p: usize) -> Option<(usize, usize, usize, usize)> {
        let x0 = r.x.max(0);
        let y0 = r.y.max(0);
        let x1 = (r.x + r.w).min(self.w);
        let y1 = (r.y + r.h).min(self.h);
        if x0 >= x1 || y0 >= y1 {
            return None;
        }
        let (x0, y0, x1, y1) = (x0 as usize, y0 as usize, x1 as usize, y1 as usize);
        Some(match p {
            0 => (x0, y0, x1, y1),
            _ => (x0 / 2, y0 / 2, x1.div_ceil(2), y1.div_ceil(2)),
        })
    }

    pub fn fill(&mut self, r: Rect, c: Yuv) {
        for (p, v) in [(0, c.0), (1, c.1), (2, c.2)] {
            let Some((x0, y0, x1, y1)) = self.clip(r, p) else {
                return;
            };
            let stride = self.frame.stride(p);
            let data = self.frame.data_mut(p);
            for row in y0..y1 {
                data[row * stride + x0..row * stride + x1].fill(v);
            }
        }
    }

    /// Copies `src` (YUV420P) with its top-left corner at (x, y), both even.
    pub fn blit(&mut self, src: &frame::Video, x: i32, y: i32) {
        let r = Rect {
            x,
            y,
            w: src.width() as i32,
            h: src.height() as i32,
        };
        for p in 0..3 {
            let Some((x0, y0, x1, y1)) = self.clip(r, p) else {
                return;
            };
            let (ox, oy) = if p == 0 { (x, y) } else { (x / 2, y / 2) };
            let (sx, sy) = ((x0 as i32 - ox) as usize, (y0 as i32 - oy) as usize);
            let (ss, ds) = (src.stride(p), self.frame.stride(p));
            let plane_w = if p == 0 { src.width() } else { src.width().div_ceil(2) } as usize;
            let plane_h = if p == 0 { src.height() } else { src.height().div_ceil(2) } as usize;
            let n = (x1 - x0).min(plane_w.saturating_sub(sx));
            let rows = (y1 - y0).min(plane_h.saturating_sub(sy));
            let s = src.data(p);
            let d = self.frame.data_mut(p);
            for row in 0..rows {
                let from = (sy + row) * ss + sx;
                let to = (y0 + row) * ds + x0;
                d[to..to + n].copy_from_slice(&s[from..from + n]);
            }
        }
    }

    /// One dot of text: a `size`-square at (x, y), clipped to `within` and the canvas.
    pub fn dot(&mut self, x: i32, y: i32, size: i32, within: Rect, c: Yuv) {
        let x0 = x.max(within.x);
        let y0 = y.max(within.y);
        let x1 = (x + size).min(within.x + within.w);
        let y1 = (y + size).min(within.y + within.h);
        if x0 < x1 && y0 < y1 {
            self.fill(
                Rect {
                    x: x0,
                    y: y0,
                    w: x1 - x0,
                    h: y1 - y0,
                },
                c,
            );
        }
    }
}
