//! `decrypt` and `play`: the authorised way to open an encrypted recording (issue 14). Both read
//! with the key from `--key-file`; nothing is decrypted to disk unless `decrypt` is asked to.

use localrecord_crypt::{DecryptReader, Error as CryptError, Key};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct DecryptArgs {
    /// An encrypted slice or recording
    input: PathBuf,
    /// Where the plaintext goes (a new file; `-` for standard output)
    output: PathBuf,
    /// Keep what a truncated file holds (its whole chunks, e.g. after a crash) and exit 0 with a
    /// warning, instead of failing without output
    #[arg(long)]
    allow_truncated: bool,
}

#[derive(clap::Args)]
pub struct PlayArgs {
    /// An encrypted slice or recording
    file: PathBuf,
    /// The player, fed the plaintext on its standard input
    #[arg(long, default_value = "ffplay")]
    player: String,
    /// Extra arguments for the player (after `--`), e.g. `-- -nodisp`
    #[arg(last = true)]
    player_args: Vec<String>,
}

fn need(key: Option<&Key>) -> anyhow::Result<&Key> {
    key.ok_or_else(|| anyhow::anyhow!("no key: give --key-file FILE (or LOCALRECORD_RECORDER_KEY_FILE)"))
}

/// Copies the plaintext of `input` into `out`; whether it was complete, and the bytes.
fn copy(input: &Path, key: &Key, out: &mut dyn Write) -> anyhow::Result<(bool, u64, Option<CryptError>)> {
    let file = std::fs::File::open(input).map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
    let mut r = DecryptReader::new(file, key).map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
    match std::io::copy(&mut r, out) {
        Ok(n) => Ok((true, n, None)),
        Err(e) => match CryptError::into_crypt(e) {
            t @ CryptError::Truncated { .. } => Ok((false, r.authenticated(), Some(t))),
            other => Err(anyhow::anyhow!("{}: {other}", input.display())),
        },
    }
}

pub fn decrypt(key: Option<&Key>, a: DecryptArgs) -> anyhow::Result<()> {
    let key = need(key)?;
    if a.output == Path::new("-") {
        let (_, _, truncated) = copy(&a.input, key, &mut std::io::stdout().lock())?;
        return truncated.map_or(Ok(()), |t| Err(anyhow::anyhow!("{}: {t}", a.input.display())));
    }
    anyhow::ensure!(
        !a.output.exists(),
        "{} exists: it is never overwritten",
        a.output.display()
    );
    let tmp = a.output.with_extension("decrypting");
    let mut out = std::fs::File::create(&tmp)?;
    let copied = copy(&a.input, key, &mut out).and_then(|(complete, n, t)| {
        out.sync_all()?;
        match t {
            Some(t) if !a.allow_truncated => Err(anyhow::anyhow!(
                "{}: {t}; --allow-truncated keeps its {n} authentic bytes",
                a.input.display()
            )),
            t => Ok((complete, n, t)),
        }
    });
    let (complete, bytes, truncated) = match copied {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &a.output)?;
    if let Some(t) = truncated {
        eprintln!("warning: {}: {t}", a.input.display());
    }
    let summary = serde_json::json!({
        "Input": a.input, "Output": a.output, "KeyId": key.id().to_string(),
        "Bytes": bytes, "Complete": complete,
    });
    println!("{summary}");
    Ok(())
}

/// The player's path, if it is on PATH (or a path itself).
fn find(player: &str) -> Option<PathBuf> {
    if player.contains('/') {
        return Path::new(player).is_file().then(|| player.into());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(player))
        .find(|p| p.is_file())
}

pub fn play(key: Option<&Key>, a: PlayArgs) -> anyhow::Result<()> {
    let key = need(key)?;
    let Some(player) = find(&a.player) else {
        anyhow::bail!(
            "{} not found on PATH: install FFmpeg's ffplay (or name a player with --player), or \
             write a playable copy with `localrecord-recorder decrypt {} OUT`",
            a.player,
            a.file.display()
        );
    };
    let mut child = std::process::Command::new(&player)
        .args(["-autoexit", "-loglevel", "error"])
        .args(&a.player_args)
        .args(["-i", "pipe:0"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("{}: {e}", player.display()))?;
    let mut stdin = child.stdin.take().expect("piped");
    let fed = copy(&a.file, key, &mut stdin);
    drop(stdin);
    let status = child.wait()?;
    // A player that quits early (the window closed) breaks the pipe: that is not an error.
    match fed {
        Ok((_, _, Some(t))) => eprintln!("warning: {}: {t}", a.file.display()),
        Ok(_) => {}
        Err(e) if e.to_string().contains("Broken pipe") => {}
        Err(e) => return Err(e),
    }
    anyhow::ensure!(status.success(), "{} exited with {status}", player.display());
    Ok(())
}
