//! CloudRoom's local mixer (issue 14): several sources composed into one picture by a layout
//! that may change while recording, encoded once, written to several outputs at once.
//!
//! `handle::Mixer` is the entry point. Each capturing source runs on its own thread (`source`)
//! and keeps its latest picture; the mixer thread (`run`) ticks at the frame rate, draws the
//! layout (`compose`, `canvas`, `text`), encodes once (`engine::encode`, `sound`) and hands the packets
//! to the `types::OutputSet`.

mod canvas;
mod compose;
mod feed;
mod font;
pub mod handle;
pub mod output;
mod run;
mod sound;
pub mod source;
#[cfg(test)]
mod tests;
mod text;
pub mod types;
pub mod validate;
