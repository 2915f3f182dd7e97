//! Text cells (type 7, `param.text`) and timestamp cells (type 4, the local date and time), drawn
//! straight onto the canvas with the embedded font, over whatever lies beneath, with a dark
//! shadow so they stay readable on light pictures. A cell's height sets the letter size (a letter
//! is 8 font pixels tall with its spacing); height 0 takes `param.fontSize` (pixels, default 16),
//! width 0 is as wide as the text. `param.color` "#RRGGBB" sets the colour (default white).

use super::canvas::{Canvas, Rect, Yuv, BLACK};
use super::font::{dots, ADVANCE_X, ADVANCE_Y};
use super::types::{content_type as ct, MixerContent};
use serde_json::Value;

/// The longest text drawn (characters); validation refuses longer ones.
pub const MAX_TEXT: usize = 256;
const WHITE: Yuv = Yuv(235, 128, 128);

/// What a text or timestamp cell shows now.
pub fn label(item: &MixerContent) -> String {
    match item.kind {
        ct::TIMESTAMP => now_local(),
        _ => item
            .param
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .chars()
            .take(MAX_TEXT)
            .collect(),
    }
}

/// Size of a font pixel on the canvas.
fn scale(item: &MixerContent) -> i32 {
    let px = if item.height > 0 {
        item.height as i64
    } else {
        item.param
            .get("fontSize")
            .and_then(Value::as_u64)
            .map(|v| v.min(1024) as i64)
            .unwrap_or(16)
    };
    (px / ADVANCE_Y as i64).clamp(1, 64) as i32
}

pub fn draw(canvas: &mut Canvas, item: &MixerContent) {
    let text = label(item);
    let s = scale(item);
    let n = text.chars().count() as i32;
    let cell = Rect {
        x: item.left,
        y: item.top,
        w: if item.width > 0 {
            item.width as i32
        } else {
            n * ADVANCE_X * s
        },
        h: if item.height > 0 {
            item.height as i32
        } else {
            ADVANCE_Y * s
        },
    };
    let colour = colour(&item.param).unwrap_or(WHITE);
    let shadow = (s / 2).max(1);
    for (c, off) in [(BLACK, shadow), (colour, 0)] {
        dots(&text, |col, row| {
            canvas.dot(cell.x + col * s + off, cell.y + row * s + off, s, cell, c)
        });
    }
}

/// `param.color` as "#RRGGBB".
fn colour(param: &Value) -> Option<Yuv> {
    let hex = param.get("color")?.as_str()?.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let v = u32::from_str_radix(hex, 16).ok()?;
    Some(Yuv::from_rgb((v >> 16) as u8, (v >> 8) as u8, v as u8))
}

/// "YYYY-MM-DD HH:MM:SS" in local time.
pub fn now_local() -> String {
    // SAFETY: time(NULL) and localtime_r into a zeroed struct this function owns.
    let tm = unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}
