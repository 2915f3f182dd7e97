//! The compositor: at each tick, a black canvas with every item of the layout drawn in list
//! order (later items on top), each into its cell clipped to the canvas. `keepAspectRatio` 1
//! letterboxes the picture inside the cell (black bars), 0 stretches it. Each cell keeps its own
//! scaler and its last scaled picture, so a still picture is scaled once, not at every tick.

use super::canvas::{Canvas, Rect, BLACK, PLACEHOLDER};
use super::source::{self, Source, Status};
use super::types::{content_type as ct, MixerContent};
use ffmpeg::format::Pixel;
use ffmpeg::frame;
use ffmpeg::software::scaling;
use ffmpeg_next as ffmpeg;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// One item of the current layout and the source that feeds it.
pub struct Item {
    pub content: MixerContent,
    pub source: Arc<Source>,
}

/// The items of `content`, each with its source: one per distinct source key, kept from `old`
/// when it is there and has not failed (a failed one is started afresh), else started now.
/// `sound`: when the mixer's sound starts (None: no sound, media files are not heard).
pub fn items(content: &[MixerContent], old: &[Item], fps: u32, sound: Option<Instant>) -> Vec<Item> {
    let mut by_key: HashMap<String, Arc<Source>> = old
        .iter()
        .filter(|i| !matches!(i.source.slot.status(), Status::Failed(_)))
        .map(|i| (source::key(&i.content), i.source.clone()))
        .collect();
    content
        .iter()
        .map(|c| {
            let src = by_key
                .entry(source::key(c))
                .or_insert_with(|| Arc::new(Source::start(c, fps, sound)))
                .clone();
            Item {
                content: c.clone(),
                source: src,
            }
        })
        .collect()
}

/// The sound rings of the layout's media sources, each once (items may share a source).
pub fn sounds(items: &[Item]) -> Vec<Arc<source::Ring>> {
    let mut rings: Vec<Arc<source::Ring>> = Vec::new();
    for r in items.iter().filter_map(|i| i.source.sound.as_ref()) {
        if !rings.iter().any(|have| Arc::ptr_eq(have, r)) {
            rings.push(r.clone());
        }
    }
    rings
}

pub struct Compositor {
    pub canvas: Canvas,
    cells: Vec<Cell>,
}

/// What a cell keeps between ticks.
#[derive(Default)]
struct Cell {
    /// (source, picture generation, width, height) of `scaled`.
    key: Option<(usize, u64, i32, i32)>,
    scaled: Option<frame::Video>,
    scaler: Option<scaling::Context>,
}

impl Compositor {
    pub fn new(width: u32, height: u32) -> Compositor {
        Compositor {
            canvas: Canvas::new(width, height),
            cells: Vec::new(),
        }
    }

    /// Draws the layout; the picture is `self.canvas.frame`.
    pub fn compose(&mut self, items: &[Item]) {
        self.canvas.clear();
        self.cells.resize_with(items.len(), Cell::default);
        for (item, cell) in items.iter().zip(&mut self.cells) {
            draw(&mut self.canvas, item, cell);
        }
    }
}

fn draw(canvas: &mut Canvas, item: &Item, cell: &mut Cell) {
    let c = &item.content;
    if matches!(c.kind, ct::TEXT | ct::TIMESTAMP) {
        return super::text::draw(canvas, c);
    }
    let rect = Rect {
        x: c.left,
        y: c.top,
        w: c.width as i32,
        h: c.height as i32,
    }
    .even();
    if !canvas.shows(rect) {
        return; // wholly outside: nothing to scale
    }
    if let Status::Failed(_) = item.source.slot.status() {
        return canvas.fill(rect, PLACEHOLDER);
    }
    let (picture, generation) = item.source.slot.latest();
    let Some(picture) = picture else {
        return canvas.fill(rect, BLACK);
    };
    let dst = if c.keep_aspect_ratio == 1 {
        canvas.fill(rect, BLACK);
        rect.fit(picture.width(), picture.height())
    } else {
        rect
    };
    if dst.w < 2 || dst.h < 2 {
        return;
    }
    if picture.width() as i32 == dst.w && picture.height() as i32 == dst.h {
        return canvas.blit(&picture, dst.x, dst.y);
    }
    let key = (Arc::as_ptr(&item.source.slot) as usize, generation, dst.w, dst.h);
    if cell.key != Some(key) {
        cell.key = None;
        if let Err(e) = cell.scale(&picture, dst.w as u32, dst.h as u32) {
            tracing::warn!("mixer: cannot scale a picture to {}x{}: {e}", dst.w, dst.h);
            return canvas.fill(rect, PLACEHOLDER);
        }
        cell.key = Some(key);
    }
    if let Some(s) = &cell.scaled {
        canvas.blit(s, dst.x, dst.y);
    }
}

impl Cell {
    fn scale(&mut self, src: &frame::Video, w: u32, h: u32) -> Result<(), ffmpeg::Error> {
        let (sw, sh) = (src.width(), src.height());
        let sc = match &mut self.scaler {
            Some(s)
                if s.input().width == sw
                    && s.input().height == sh
                    && s.output().width == w
                    && s.output().height == h =>
            {
                s
            }
            slot => slot.insert(scaling::Context::get(
                Pixel::YUV420P,
                sw,
                sh,
                Pixel::YUV420P,
                w,
                h,
                scaling::Flags::BILINEAR,
            )?),
        };
        let out = match &mut self.scaled {
            Some(f) if f.width() == w && f.height() == h => f,
            slot => slot.insert(frame::Video::new(Pixel::YUV420P, w, h)),
        };
        sc.run(src, out)
    }
}
