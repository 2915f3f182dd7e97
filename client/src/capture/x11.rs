//! X11 targets: the seed's `Wnd` is an X window id, `AppProc` a process name whose window we find
//! through `_NET_WM_PID`; `x`/`y`/`Width`/`Height` cut a region out of the window (or the screen).
//! The grab itself is FFmpeg's x11grab.

use super::{Error, Region};
use x11rb::connection::Connection;
use x11rb::errors::ReplyError;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt, MapState, Window};

/// What x11grab is asked to grab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grab {
    /// The display, e.g. `:0` (x11grab's "filename").
    pub input: String,
    pub window: u32,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Grab {
    pub fn options(&self, fps: u32) -> Vec<(String, String)> {
        let mut o = vec![
            ("framerate".to_owned(), fps.to_string()),
            ("grab_x".to_owned(), self.x.to_string()),
            ("grab_y".to_owned(), self.y.to_string()),
            ("video_size".to_owned(), format!("{}x{}", self.width, self.height)),
        ];
        if self.window != 0 {
            o.push(("window_id".to_owned(), self.window.to_string()));
        }
        o
    }
}

/// Finds the window and checks the region fits in it. Errors are for the caller's parameters.
pub fn resolve(display: Option<&str>, region: &Region) -> Result<Grab, Error> {
    let name = display
        .map(str::to_owned)
        .or_else(|| std::env::var("DISPLAY").ok())
        .ok_or(Error::NoDisplay)?;
    let (conn, screen) = match x11rb::connect(Some(&name)) {
        Ok(c) => c,
        Err(source) => return Err(Error::Display { name, source }),
    };
    let root = conn.setup().roots[screen].root;
    let window = match (region.window, &region.app_proc) {
        (0, Some(proc_name)) => find_window_of(&conn, root, proc_name)?,
        (0, None) => root,
        (w, _) => w,
    };
    let geo = conn
        .get_geometry(window)
        .map_err(ReplyError::from)?
        .reply()
        .map_err(|source| Error::NoWindow { window, source })?;
    let (ww, wh) = (geo.width as u32, geo.height as u32);
    let width = if region.width == 0 {
        ww.saturating_sub(region.x)
    } else {
        region.width
    };
    let height = if region.height == 0 {
        wh.saturating_sub(region.y)
    } else {
        region.height
    };
    if width < 2 || height < 2 || region.x + width > ww || region.y + height > wh {
        return Err(Error::RegionOutside {
            x: region.x,
            y: region.y,
            width,
            height,
            window,
            window_width: ww,
            window_height: wh,
        });
    }
    Ok(Grab {
        input: name,
        window: if window == root { 0 } else { window },
        x: region.x,
        y: region.y,
        width: width & !1,
        height: height & !1,
    })
}

/// Processes whose name (comm, or the executable's file name) is `name`; a Windows-style
/// `name.exe` also matches `name`.
pub fn pids_named(name: &str) -> Vec<u32> {
    let want = name.strip_suffix(".exe").unwrap_or(name);
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
            let exe_name = exe.as_ref().and_then(|p| p.file_name()).and_then(|n| n.to_str());
            // comm is cut to 15 bytes by the kernel.
            let comm = comm.trim_end();
            comm == want || (want.len() > 15 && want.starts_with(comm) && comm.len() == 15) || exe_name == Some(want)
        })
        .collect()
}

/// The largest viewable window whose `_NET_WM_PID` belongs to a process named `name`.
fn find_window_of(conn: &impl Connection, root: Window, name: &str) -> Result<Window, Error> {
    let pids = pids_named(name);
    if pids.is_empty() {
        return Err(Error::NoProcess(name.to_owned()));
    }
    let atom = conn
        .intern_atom(false, b"_NET_WM_PID")
        .map_err(ReplyError::from)?
        .reply()?
        .atom;
    let mut best: Option<(u32, Window)> = None;
    let mut todo = vec![root];
    while let Some(w) = todo.pop() {
        if let Ok(Ok(tree)) = conn.query_tree(w).map(|c| c.reply()) {
            todo.extend(tree.children);
        }
        let pid = conn
            .get_property(false, w, atom, AtomEnum::CARDINAL, 0, 1)
            .ok()
            .and_then(|c| c.reply().ok())
            .and_then(|p| p.value32().and_then(|mut v| v.next()));
        if !pid.is_some_and(|p| pids.contains(&p)) {
            continue;
        }
        let viewable = conn
            .get_window_attributes(w)
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some_and(|a| a.map_state == MapState::VIEWABLE);
        let area = conn
            .get_geometry(w)
            .ok()
            .and_then(|c| c.reply().ok())
            .map(|g| g.width as u32 * g.height as u32)
            .unwrap_or(0);
        if viewable && best.is_none_or(|(a, _)| area > a) {
            best = Some((area, w));
        }
    }
    best.map(|(_, w)| w)
        .ok_or_else(|| Error::WindowNotFound(name.to_owned()))
}
