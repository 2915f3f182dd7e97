//! DstPath: the seed lets the caller name a file that receives the whole recording. The caller
//! may be a web page or another local user, so the file must be a new `.flv` inside one of the
//! configured directories, reached without following a symbolic link, and FFmpeg writes through
//! the very file we created and checked (not a path that could be swapped for a link meanwhile).

use super::CtlError;
use crate::api::codes;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The created file; FFmpeg opens `path` (on Linux the descriptor's own /proc entry).
#[derive(Debug)]
pub struct DstFile {
    pub shown: PathBuf,
    file: std::fs::File,
}

impl DstFile {
    /// The path FFmpeg should open to write into this very file.
    pub fn open_path(&self) -> PathBuf {
        if cfg!(target_os = "linux") {
            PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
        } else {
            self.shown.clone()
        }
    }

    pub fn dir(&self) -> &Path {
        self.shown.parent().unwrap_or(Path::new("/"))
    }

    /// The open file, for the engine to keep while FFmpeg writes through [`Self::open_path`].
    pub fn into_file(self) -> std::fs::File {
        self.file
    }

    /// StartRecord failed after all: remove the empty file again (a retry may use the name),
    /// but only while the name still leads to the file we created.
    pub fn discard(self) {
        use std::os::unix::fs::MetadataExt;
        let ours = self.file.metadata().ok().map(|m| (m.dev(), m.ino()));
        let there = std::fs::symlink_metadata(&self.shown).ok().map(|m| (m.dev(), m.ino()));
        if ours.is_some() && ours == there {
            let _ = std::fs::remove_file(&self.shown);
        }
    }
}

fn c_path(p: &Path) -> Result<CString, std::ffi::NulError> {
    CString::new(p.as_os_str().as_bytes())
}

/// Where an open descriptor really is (its /proc link), or None where there is no /proc.
fn fd_location(fd: &OwnedFd) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
}

/// Creates DstPath `p` if it is allowed: absolute, `.flv`, inside one of `allowed` (after
/// resolving every link in its directory), not existing yet, and not a symlink.
pub fn create(p: &str, allowed: &[PathBuf]) -> Result<DstFile, CtlError> {
    let path = PathBuf::from(p);
    let wrong = |why: &str| CtlError::new(codes::BAD_DST_PATH, format!("DstPath {p}: {why}"));
    let refused = |why: &str| CtlError::new(codes::INVALID_PARAMETER, format!("DstPath {p}: {why}"));
    if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("flv")) {
        return Err(wrong("only .flv files are written"));
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(wrong("give an absolute path"));
    };
    if !path.is_absolute() {
        return Err(wrong("give an absolute path"));
    }
    let dir = std::fs::canonicalize(dir).map_err(|_| wrong("its directory does not exist"))?;
    let roots: Vec<PathBuf> = allowed.iter().filter_map(|d| std::fs::canonicalize(d).ok()).collect();
    let inside = |d: &Path| roots.iter().any(|r| d.starts_with(r));
    if !inside(&dir) {
        let list: Vec<String> = allowed.iter().map(|d| d.display().to_string()).collect();
        return Err(refused(&format!(
            "not inside an allowed directory ({}; see --dst-dir)",
            if list.is_empty() {
                "none configured".into()
            } else {
                list.join(", ")
            }
        )));
    }
    let nul = |_| wrong("a NUL byte in the path");
    let cdir = c_path(&dir).map_err(nul)?;
    let cname = c_path(Path::new(name)).map_err(nul)?;
    // SAFETY: plain syscalls on valid NUL-terminated strings; each returned fd is owned at once.
    let dirfd = unsafe { libc::open(cdir.as_ptr(), libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    if dirfd < 0 {
        return Err(wrong(&std::io::Error::last_os_error().to_string()));
    }
    let dirfd = unsafe { OwnedFd::from_raw_fd(dirfd) };
    // A directory on the way may have become a link after canonicalize: check where we are.
    if fd_location(&dirfd).is_some_and(|d| !inside(&d)) {
        return Err(refused("its directory moved outside the allowed directories"));
    }
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let found = unsafe { libc::fstatat(dirfd.as_raw_fd(), cname.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } == 0;
    if found && st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        return Err(refused("is a symbolic link"));
    }
    if found {
        return Err(wrong("exists already (an existing file is never overwritten)"));
    }
    // O_EXCL with O_CREAT also refuses a link created since the check above.
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let fd = unsafe { libc::openat(dirfd.as_raw_fd(), cname.as_ptr(), flags, 0o644 as libc::c_uint) };
    if fd < 0 {
        return Err(wrong(&std::io::Error::last_os_error().to_string()));
    }
    let file = unsafe { std::fs::File::from_raw_fd(fd) };
    Ok(DstFile {
        shown: dir.join(name),
        file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lr-dst-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn only_new_flv_files_inside_allowed_directories_without_links() {
        let root = tmp("rules");
        let (ok, other) = (root.join("ok"), root.join("other"));
        std::fs::create_dir_all(&ok).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        let allowed = [ok.clone()];
        let code = |p: &Path| create(p.to_str().unwrap(), &allowed).map(|_| ()).map_err(|e| e.code);

        assert_eq!(code(&ok.join("a.flv")), Ok(()));
        assert_eq!(code(&ok.join("a.flv")), Err(codes::BAD_DST_PATH), "never overwritten");
        assert_eq!(code(&ok.join("a.mp4")), Err(codes::BAD_DST_PATH));
        assert_eq!(code(&other.join("a.flv")), Err(codes::INVALID_PARAMETER));
        assert_eq!(code(&ok.join("../other/b.flv")), Err(codes::INVALID_PARAMETER));
        assert_eq!(code(Path::new("rel/a.flv")), Err(codes::BAD_DST_PATH));
        // A link to a file elsewhere, and a linked directory that leads outside.
        std::os::unix::fs::symlink(other.join("target.flv"), ok.join("link.flv")).unwrap();
        assert_eq!(code(&ok.join("link.flv")), Err(codes::INVALID_PARAMETER));
        assert!(!other.join("target.flv").exists());
        std::os::unix::fs::symlink(&other, ok.join("sub")).unwrap();
        assert_eq!(code(&ok.join("sub/c.flv")), Err(codes::INVALID_PARAMETER));
        assert!(!other.join("c.flv").exists());
        // Nothing allowed at all.
        assert!(create(ok.join("d.flv").to_str().unwrap(), &[]).is_err());
    }

    #[test]
    fn ffmpeg_writes_through_the_created_file() {
        let d = tmp("fd");
        let f = create(d.join("x.flv").to_str().unwrap(), std::slice::from_ref(&d)).unwrap();
        std::fs::write(f.open_path(), b"FLV").unwrap();
        assert_eq!(std::fs::read(d.join("x.flv")).unwrap(), b"FLV");
    }
}
