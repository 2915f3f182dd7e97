//! Where the local API may have a mixer write. A caller of the local API may be a web page (from
//! an allowed origin) or another local program, so, as for StartRecord's DstPath, an output is a
//! new file (never an existing one: outputs open with O_EXCL) inside one of the recorder's
//! `--dst-dir` directories, judged after resolving every link in its directory. The CLI's
//! `record --output` names files on the user's own command line and is not confined.

use crate::mixer::types::{err, CrError, MixerOutput};
use std::path::{Path, PathBuf};

/// Refuses (PARAM_ERR) any output whose file would land outside `allowed`.
pub fn check(outputs: &[MixerOutput], allowed: &[PathBuf]) -> Result<(), CrError> {
    let roots: Vec<PathBuf> = allowed.iter().filter_map(|d| std::fs::canonicalize(d).ok()).collect();
    for o in outputs {
        inside(&o.filename, &roots, allowed)?;
    }
    Ok(())
}

fn inside(filename: &str, roots: &[PathBuf], allowed: &[PathBuf]) -> Result<(), CrError> {
    let path = Path::new(filename);
    let refused = |why: String| CrError::new(err::PARAM_ERR, format!("mixerOutput {filename}: {why}"));
    let (Some(dir), Some(_)) = (path.parent(), path.file_name()) else {
        return Err(refused("give an absolute path to a file".into()));
    };
    if !path.is_absolute() {
        return Err(refused("give an absolute path to a file".into()));
    }
    let dir = std::fs::canonicalize(dir).map_err(|_| refused("its directory does not exist".into()))?;
    if roots.iter().any(|r| dir.starts_with(r)) {
        return Ok(());
    }
    let list: Vec<String> = allowed.iter().map(|d| d.display().to_string()).collect();
    Err(refused(format!(
        "outputs are written only inside the recorder's --dst-dir directories ({})",
        list.join(", ")
    )))
}
