//! The private PostgreSQL that `serve` runs when no database URL is configured: initdb on first
//! start under `<data dir>/postgres`, listening only on a Unix socket inside that directory (so it
//! never collides with a system PostgreSQL), stopped when the [`EmbeddedPostgres`] is dropped.
//!
//! PostgreSQL refuses to run as root, so as root the server runs initdb and postgres as the
//! unprivileged `postgres` user that Debian's package creates, and gives it the directory.
//!
//! The directory (socket and data) is 0700: no other local user reaches the socket, so the trust
//! authentication initdb sets up admits only the server's own user (and root).

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub struct EmbeddedPostgres {
    dir: PathBuf,
    bin: PathBuf,
    as_user: Option<String>,
    /// False when another process (a running `serve`) started it: then it is not ours to stop.
    owned: bool,
}

const DB_NAME: &str = "localrecord";

/// The newest PostgreSQL server binaries installed (Debian keeps them off PATH).
fn find_bindir() -> anyhow::Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    candidates.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    candidates.reverse();
    candidates.extend(std::env::var_os("PATH").iter().flat_map(std::env::split_paths));
    candidates
        .into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        .context("PostgreSQL server binaries (initdb, pg_ctl) not found: install the postgresql package, or set LOCALRECORD_DATABASE_URL")
}

fn is_root() -> bool {
    // SAFETY-free check: /proc/self/status "Uid:" line, first field.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

impl EmbeddedPostgres {
    pub async fn start(dir: &Path) -> anyhow::Result<EmbeddedPostgres> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = std::fs::canonicalize(dir)?;
        // The socket lives here: only the server's user (and root) may reach it, so the trust
        // authentication inside is trust in that user alone. Fixed at every start, for old installs.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("restricting {}", dir.display()))?;
        }
        let mut pg = EmbeddedPostgres {
            bin: find_bindir()?,
            as_user: is_root().then(|| "postgres".to_owned()),
            dir,
            owned: false,
        };
        if let Some(user) = &pg.as_user {
            pg.chown_for(user)?;
        }
        if !pg.dir.join("data/PG_VERSION").exists() {
            tracing::info!(dir = %pg.dir.display(), "initialising private PostgreSQL");
            pg.run(
                "initdb",
                &[
                    "-D",
                    &pg.data(),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ],
            )?;
        }
        if pg.run("pg_ctl", &["-D", &pg.data(), "status"]).is_ok() {
            // `localrecord app create` while `serve` runs: use the server's PostgreSQL.
            pg.create_database().await?;
            return Ok(pg);
        }
        // A previous run killed hard leaves a stale pid file; pg_ctl start copes with that.
        let opts = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c max_connections=200",
            pg.dir.display()
        );
        let log = pg.dir.join("postgres.log");
        pg.run(
            "pg_ctl",
            &[
                "-D",
                &pg.data(),
                "-o",
                &opts,
                "-l",
                &log.to_string_lossy(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .with_context(|| format!("starting PostgreSQL (log: {})", log.display()))?;
        pg.owned = true;
        pg.create_database().await?;
        Ok(pg)
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@localhost/{DB_NAME}?host={}", self.dir.display())
    }

    fn chown_for(&self, user: &str) -> anyhow::Result<()> {
        // The user must reach the directory: give it the tree, and make parents traversable.
        let status = Command::new("chown")
            .args(["-R", &format!("{user}:{user}")])
            .arg(&self.dir)
            .status()?;
        if !status.success() {
            bail!(
                "chown of {} to {user} failed (does the user exist? install postgresql)",
                self.dir.display()
            );
        }
        let mut p = self.dir.parent();
        while let Some(d) = p {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(m) = std::fs::metadata(d) {
                if m.permissions().mode() & 0o001 == 0 {
                    let mut perm = m.permissions();
                    perm.set_mode(perm.mode() | 0o001);
                    std::fs::set_permissions(d, perm).ok();
                }
            }
            p = d.parent();
        }
        Ok(())
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        match &self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let out = self
            .command(tool)
            .args(args)
            .current_dir(&self.dir)
            .output()
            .with_context(|| format!("running {tool}"))?;
        if !out.status.success() {
            bail!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    async fn create_database(&self) -> anyhow::Result<()> {
        let admin = format!("postgres://postgres@localhost/postgres?host={}", self.dir.display());
        let mut last = None;
        for _ in 0..50 {
            match crate::db::connect(&admin, 1).await {
                Ok(pool) => {
                    crate::db::create_database_if_missing(&pool, DB_NAME).await?;
                    pool.close().await;
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(last
            .expect("at least one attempt")
            .context("connecting to the private PostgreSQL"))
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        if let Err(e) = self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]) {
            tracing::warn!("stopping private PostgreSQL: {e:#}");
        }
    }
}
