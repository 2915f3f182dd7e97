//! Checks a mixerContent list before anything starts: known types, cells of a sane size and
//! place, the parameters each type needs. Refusals use the seed's codes: `PARAM_ERR` for a bad
//! item, `CFG_RESTRICTED` for too many items.

use super::source::{camera, file_param, screen_param_error};
use super::text::MAX_TEXT;
use super::types::{content_type as ct, err, CrError, MixerContent};
use serde_json::Value;

/// Items a layout may hold.
pub const MAX_ITEMS: usize = 16;
/// The largest cell side, and how far a cell may start outside the canvas.
pub const MAX_CELL: u32 = 7680;
const MAX_PATH: usize = 4096;

pub fn check_content(content: &[MixerContent]) -> Result<(), CrError> {
    if content.len() > MAX_ITEMS {
        return Err(CrError::new(
            err::CFG_RESTRICTED,
            format!("a layout holds at most {MAX_ITEMS} items, not {}", content.len()),
        ));
    }
    for (i, item) in content.iter().enumerate() {
        check_item(item).map_err(|m| CrError::new(err::PARAM_ERR, format!("mixerContent[{i}]: {m}")))?;
    }
    Ok(())
}

fn check_item(item: &MixerContent) -> Result<(), String> {
    let sized_by_text = matches!(item.kind, ct::TEXT | ct::TIMESTAMP);
    if !matches!(
        item.kind,
        ct::VIDEO | ct::PIC | ct::SCREEN | ct::MEDIA | ct::TEXT | ct::TIMESTAMP
    ) {
        return Err(format!("unknown type {}", item.kind));
    }
    if item.keep_aspect_ratio > 1 {
        return Err("keepAspectRatio must be 0 or 1".into());
    }
    if !sized_by_text && (item.width < 2 || item.height < 2) {
        return Err("width and height must be at least 2".into());
    }
    if item.width > MAX_CELL || item.height > MAX_CELL {
        return Err(format!("width and height must be at most {MAX_CELL}"));
    }
    if item.left.unsigned_abs() > MAX_CELL || item.top.unsigned_abs() > MAX_CELL {
        return Err(format!("left and top must be within -{MAX_CELL}..={MAX_CELL}"));
    }
    if !(item.param.is_object() || item.param.is_null()) {
        return Err("param must be an object".into());
    }
    let p = &item.param;
    match item.kind {
        ct::VIDEO => match camera(p)? {
            (f, i) if f.len() + i.len() > MAX_PATH => Err("param.camid is too long".into()),
            _ => Ok(()),
        },
        ct::PIC => path(p, &["resourceid", "filename"]),
        ct::MEDIA => path(p, &["filename"]).and_then(|()| volume(p)),
        ct::SCREEN => screen_param_error(p).map_or(Ok(()), Err),
        ct::TEXT => match p.get("text").and_then(Value::as_str) {
            None => Err("param.text is required".into()),
            Some(t) if t.chars().count() > MAX_TEXT => Err(format!("param.text is longer than {MAX_TEXT}")),
            Some(_) => Ok(()),
        },
        _ => Ok(()),
    }
}

/// A media item's `param.volume`: absent, or a number 0..=100.
fn volume(p: &Value) -> Result<(), String> {
    match p.get("volume") {
        None => Ok(()),
        Some(v) if v.as_f64().is_some_and(|v| (0.0..=100.0).contains(&v)) => Ok(()),
        Some(v) => Err(format!("param.volume {v} is not a number 0..=100")),
    }
}

fn path(p: &Value, names: &[&str]) -> Result<(), String> {
    let f = file_param(p, names);
    if f.is_empty() {
        return Err(format!("param.{} is required", names.join(" or param.")));
    }
    if f.len() > MAX_PATH || f.contains('\0') {
        return Err("the file name is too long or holds a NUL".into());
    }
    Ok(())
}
