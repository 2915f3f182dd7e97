//! CloudRoom's local mixer (issue 14): several sources composed into one picture by a layout
//! that may change while recording, encoded once, written to several outputs at once.

pub mod handle;
pub mod output;
pub mod types;
