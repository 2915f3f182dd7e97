//! The local X11 screen as a source, in StartRecord's terms: `param.area` "x,y,w,h" cuts a region
//! out of the screen (or window), `param.pid` records that process's window, `param.screenid`
//! picks the X screen of the display, and `param.display` (ours) names the display (default
//! `$DISPLAY`). The grab itself is `capture::x11` and x11grab.

use super::Slot;
use crate::capture::{device, x11, Region};
use serde_json::Value;
use std::sync::atomic::AtomicBool;

pub fn run(param: &Value, fps: u32, slot: &Slot, stop: &AtomicBool) -> Result<(), String> {
    let region = region(param)?;
    let display = display(param);
    let grab = x11::resolve(display.as_deref(), &region).map_err(|e| e.to_string())?;
    let ictx = device::open("x11grab", &grab.input, &grab.options(fps)).map_err(|e| e.to_string())?;
    super::stream::run(ictx, false, slot, stop, None)
}

/// `"x,y,w,h"` as four numbers.
pub fn area(s: &str) -> Option<[u32; 4]> {
    let v: Vec<u32> = s.split(',').map(|p| p.trim().parse().ok()).collect::<Option<_>>()?;
    v.try_into().ok()
}

/// A number given as a JSON number or a numeric string.
pub fn number(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn region(param: &Value) -> Result<Region, String> {
    let mut r = Region::default();
    if let Some(a) = param.get("area").and_then(Value::as_str) {
        [r.x, r.y, r.width, r.height] = area(a).ok_or_else(|| format!("area '{a}' is not \"x,y,w,h\""))?;
    }
    if let Some(pid) = number(param.get("pid")).filter(|p| *p > 0) {
        // The window is found by process name (capture::x11 matches _NET_WM_PID against
        // every process of that name).
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).map_err(|_| format!("no process {pid}"))?;
        r.app_proc = Some(comm.trim_end().to_owned());
    }
    Ok(r)
}

/// `param.display` or `$DISPLAY`, on screen `screenid` when one is given.
fn display(param: &Value) -> Option<String> {
    let given = param.get("display").and_then(Value::as_str).map(str::to_owned);
    let Some(screen) = number(param.get("screenid")).filter(|s| *s > 0) else {
        return given;
    };
    let base = given.or_else(|| std::env::var("DISPLAY").ok())?;
    let host_display = match base.rsplit_once('.') {
        Some((hd, s)) if s.chars().all(|c| c.is_ascii_digit()) && hd.contains(':') => hd.to_owned(),
        _ => base,
    };
    Some(format!("{host_display}.{screen}"))
}
