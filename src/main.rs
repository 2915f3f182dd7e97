//! `localrecord`: the server's command line. Thin on purpose: each command calls into the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use localrecord::config::Settings;
use localrecord::{admin, auth, db, startup, telemetry};
use serde_json::Value;
use sqlx::PgPool;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "localrecord", version, about = "Classroom/meeting local recording backend")]
struct Cli {
    /// TOML config file (see deploy/localrecord.example.toml); default /etc/localrecord.toml when
    /// it exists (where `deploy/localrecord.sh install` puts it). LOCALRECORD_* env vars override it.
    #[arg(long, global = true, env = "LOCALRECORD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (and its background workers) until SIGINT/SIGTERM.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage apps (SdkAppIds) and their keys.
    App {
        #[command(subcommand)]
        command: AppCommand,
    },
    /// The admin console (served by `serve` at /admin).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Print a UserSig for an identifier of an app, signed with the app's SecretKey.
    Usersig {
        #[arg(long)]
        sdkappid: i64,
        #[arg(long)]
        identifier: String,
        /// Validity in seconds.
        #[arg(long, default_value_t = 86400)]
        expire: i64,
    },
    /// Splice FLV slices, in the order given, into one MP4 (stream copy); prints a JSON summary.
    Splice {
        /// Output file.
        #[arg(short, long, default_value = "out.mp4")]
        output: PathBuf,
        /// Work as the server does on the fs store: prepare each slice as if it had just landed,
        /// then assemble at the "stop"; the summary adds `prepare_ms` (per slice) and `stop_ms`.
        /// Fails when the slices need the whole splice (another resolution, other codecs).
        #[arg(long)]
        prepared: bool,
        /// Keyframe verdicts kept between runs, as the server keeps them per slice: read when the
        /// file exists (those slices' keyframes are not decoded again), else written after the
        /// splice with what it found. JSON: per slice, the ordinals of its keyframes that failed
        /// to decode, or null.
        #[arg(long, value_name = "FILE")]
        verdicts: Option<PathBuf>,
        /// Slices in recording order.
        #[arg(required = true)]
        slices: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Print a one-time link that signs an admin identifier of the app in to the console
    /// (valid for 5 minutes, usable once).
    Login {
        #[arg(long)]
        sdkappid: i64,
        /// An admin identifier of the app; default its first one.
        #[arg(long)]
        identifier: Option<String>,
    },
}

#[derive(Subcommand)]
enum AppCommand {
    /// Create an app; prints its keys as JSON.
    Create {
        #[arg(long)]
        sdkappid: i64,
        /// SecretKey for UserSig (generated when omitted).
        #[arg(long)]
        secret_key: Option<String>,
        /// TicKey for the query API signature (generated when omitted).
        #[arg(long)]
        tic_key: Option<String>,
        /// Admin identifier (repeatable); default "administrator".
        #[arg(long = "admin")]
        admins: Vec<String>,
    },
    /// List apps with their keys as JSON.
    List,
    /// Replace an app's keys with fresh ones; prints them as JSON. The replaced keys keep working
    /// for --overlap-secs, so recorders, business servers and callback receivers can switch over.
    Rotate {
        #[arg(long)]
        sdkappid: i64,
        /// The SecretKey (UserSig).
        #[arg(long)]
        secret_key: bool,
        /// The TicKey (query API signature, signed recording URLs).
        #[arg(long)]
        tic_key: bool,
        /// The webhook secret (callback signatures; both are sent during the overlap).
        #[arg(long)]
        webhook_secret: bool,
        /// How long the replaced keys stay valid, in seconds (0: revoked at once).
        #[arg(long, default_value_t = 86400)]
        overlap_secs: u64,
    },
    /// Keep an app's recordings this many days, then delete them (MP4, slices, rows); 0 keeps
    /// them forever (the default). Enforced by the retention job.
    Retention {
        #[arg(long)]
        sdkappid: i64,
        #[arg(long)]
        days: u32,
    },
    /// Allow local recording for an app (the default).
    Enable {
        #[arg(long)]
        sdkappid: i64,
    },
    /// Refuse local recording for an app: its recorders get -10006.
    Disable {
        #[arg(long)]
        sdkappid: i64,
    },
    /// The app's key for encrypted recordings: create, rotate, show its id, export it to a file.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Give the app its first recording key; prints its KeyId (never the key).
    Create {
        #[arg(long)]
        sdkappid: i64,
        /// Also write the key to this new file (mode 0600) for recorders.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A new current recording key; the old one is retired but kept for older recordings.
    Rotate {
        #[arg(long)]
        sdkappid: i64,
        /// Also write the new key to this new file (mode 0600) for recorders.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The current key's id and every key's dates, as JSON; never a key.
    Show {
        #[arg(long)]
        sdkappid: i64,
    },
    /// Write the current key (or --key-id's) to a new key file (mode 0600); audited.
    Export {
        #[arg(long)]
        sdkappid: i64,
        /// A retired key's id (16 hex digits), for older recordings.
        #[arg(long)]
        key_id: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // At most two malloc arenas (unless the operator says otherwise): glibc gives busy threads
        // arenas of their own, and a splice's threads, each allocating packets, otherwise grow
        // theirs side by side (13 MiB more peak RSS measured on a 1 h splice) for no speed.
        // SAFETY: mallopt only sets an allocator parameter; it is called before any thread of
        // ours allocates.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    }
    telemetry::init();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve) {
        // A command's output piped into `head` (or any reader that leaves early) ends the command
        // quietly, as for any Unix tool, instead of a panic in `println!`. The server keeps Rust's
        // default (SIGPIPE ignored): a client closing its socket is an error to handle there.
        // SAFETY: restores the default disposition of one signal before any thread writes output.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    if let Command::Splice {
        output,
        slices,
        prepared,
        verdicts,
    } = &cli.command
    {
        return splice(slices, output, *prepared, verdicts.as_deref());
    }
    let settings = load_settings(cli.config.as_deref())?;
    // Everything the server writes (objects, scratch files, the private PostgreSQL) is for its
    // own user alone: files 0600, directories 0700.
    // SAFETY: umask only swaps the process's file mode mask; it cannot fail.
    unsafe { libc::umask(0o077) };
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            startup::database(&settings).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::App { command } => app(&settings, command).await,
        Command::Admin {
            command: AdminCommand::Login { sdkappid, identifier },
        } => admin_login(&settings, sdkappid, identifier).await,
        Command::Usersig {
            sdkappid,
            identifier,
            expire,
        } => usersig(&settings, sdkappid, &identifier, expire).await,
        Command::Splice { .. } => unreachable!("handled before loading the configuration"),
    }
}

/// `--config`, else the installed /etc/localrecord.toml when there is one.
fn load_settings(config: Option<&Path>) -> anyhow::Result<Settings> {
    let installed = Path::new("/etc/localrecord.toml");
    let config = config.or_else(|| installed.is_file().then_some(installed));
    Settings::load(config).context("loading configuration")
}

fn splice(slices: &[PathBuf], output: &Path, prepared: bool, verdicts: Option<&Path>) -> anyhow::Result<()> {
    let summary = if let Some(file) = verdicts {
        serde_json::to_value(splice_with_verdicts(slices, output, file)?)?
    } else if prepared {
        let (summary, times) = localrecord::splice::assemble::prepare_and_assemble_timed(slices, output)?;
        let mut v = serde_json::to_value(&summary)?;
        v["prepare_ms"] = serde_json::json!(times);
        v["stop_ms"] = serde_json::json!(summary.elapsed_ms);
        v
    } else {
        serde_json::to_value(localrecord::splice::splice_files(slices, output)?)?
    };
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

/// `splice --verdicts FILE`: see the option.
fn splice_with_verdicts(
    slices: &[PathBuf],
    output: &Path,
    file: &Path,
) -> anyhow::Result<localrecord::splice::Summary> {
    let progress = localrecord::progress::Progress::new();
    if file.exists() {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let known: Vec<Option<Vec<u32>>> =
            serde_json::from_str(&text).with_context(|| format!("{} is not a verdicts file", file.display()))?;
        anyhow::ensure!(
            known.len() == slices.len(),
            "{} has verdicts for {} slices, not {}",
            file.display(),
            known.len(),
            slices.len()
        );
        return localrecord::splice::splice_files_known(slices, &known, output, &progress);
    }
    let summary = localrecord::splice::splice_files_known(slices, &[], output, &progress)?;
    let found: Vec<_> = summary.slices.iter().map(|r| r.bad_keyframes.clone()).collect();
    std::fs::write(file, serde_json::to_string(&found)?).with_context(|| format!("writing {}", file.display()))?;
    Ok(summary)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(?settings, "configuration");
    let app = startup::Application::build(settings).await?;
    app.run_until(startup::shutdown_signal()).await?;
    // Leave now: an abandoned splice thread (a stuck decoder) must not hold up the exit.
    std::process::exit(0);
}

async fn app(settings: &Settings, command: AppCommand) -> anyhow::Result<()> {
    let (pool, _pg) = startup::database(settings).await?;
    let out = app_command(&pool, command).await?;
    pool.close().await;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Runs one `app` subcommand; what it prints.
async fn app_command(pool: &PgPool, command: AppCommand) -> anyhow::Result<Value> {
    Ok(match command {
        AppCommand::Create {
            sdkappid,
            secret_key,
            tic_key,
            admins,
        } => serde_json::to_value(admin::create_app(pool, sdkappid, secret_key, tic_key, admins).await?)?,
        AppCommand::List => serde_json::to_value(
            db::apps::list(pool)
                .await?
                .into_iter()
                .map(admin::AppKeys::from)
                .collect::<Vec<_>>(),
        )?,
        AppCommand::Rotate {
            sdkappid,
            secret_key,
            tic_key,
            webhook_secret,
            overlap_secs,
        } => {
            use db::apps::KeyKind;
            let kinds: Vec<KeyKind> = [
                (secret_key, KeyKind::SecretKey),
                (tic_key, KeyKind::TicKey),
                (webhook_secret, KeyKind::WebhookSecret),
            ]
            .into_iter()
            .filter_map(|(on, k)| on.then_some(k))
            .collect();
            let overlap = std::time::Duration::from_secs(overlap_secs);
            serde_json::to_value(admin::rotate(pool, sdkappid, &kinds, overlap).await?)?
        }
        AppCommand::Retention { sdkappid, days } => set_retention(pool, sdkappid, days).await?,
        AppCommand::Enable { sdkappid } => set_enabled(pool, sdkappid, true).await?,
        AppCommand::Disable { sdkappid } => set_enabled(pool, sdkappid, false).await?,
        AppCommand::Key { command } => key_command(pool, command).await?,
    })
}

async fn key_command(pool: &PgPool, command: KeyCommand) -> anyhow::Result<Value> {
    use localrecord::recording_keys as keys;
    match command {
        KeyCommand::Create { sdkappid, out } => keys::create(pool, sdkappid, out.as_deref()).await,
        KeyCommand::Rotate { sdkappid, out } => keys::rotate(pool, sdkappid, out.as_deref()).await,
        KeyCommand::Show { sdkappid } => keys::show(pool, sdkappid).await,
        KeyCommand::Export { sdkappid, key_id, out } => keys::export(pool, sdkappid, key_id.as_deref(), &out).await,
    }
}

async fn set_retention(pool: &PgPool, sdkappid: i64, days: u32) -> anyhow::Result<Value> {
    let days = (days > 0).then(|| days.min(i32::MAX as u32) as i32);
    anyhow::ensure!(
        db::deletion::set_retention(pool, sdkappid, days).await?,
        "no app {sdkappid}"
    );
    let detail = serde_json::json!({ "RetentionDays": days });
    db::audit::record(pool, sdkappid, "cli", "retention", "", detail).await?;
    Ok(serde_json::json!({ "SdkAppId": sdkappid, "RetentionDays": days }))
}

async fn set_enabled(pool: &PgPool, sdkappid: i64, on: bool) -> anyhow::Result<Value> {
    anyhow::ensure!(
        db::apps::set_local_record_enabled(pool, sdkappid, on).await?,
        "no app {sdkappid}"
    );
    let action = if on { "enable" } else { "disable" };
    db::audit::record(pool, sdkappid, "cli", action, "", serde_json::json!({})).await?;
    Ok(serde_json::json!({ "SdkAppId": sdkappid, "LocalRecordEnabled": on }))
}

async fn admin_login(settings: &Settings, sdkappid: i64, identifier: Option<String>) -> anyhow::Result<()> {
    let (pool, _pg) = startup::database(settings).await?;
    let link = localrecord::http::console::session::create_link(&pool, settings, sdkappid, identifier).await;
    pool.close().await;
    println!("{}", link?);
    Ok(())
}

async fn usersig(settings: &Settings, sdkappid: i64, identifier: &str, expire: i64) -> anyhow::Result<()> {
    let (pool, _pg) = startup::database(settings).await?;
    let app = db::apps::get(&pool, sdkappid)
        .await?
        .with_context(|| format!("no app {sdkappid}"))?;
    pool.close().await;
    let sdkappid = u64::try_from(sdkappid)?;
    println!(
        "{}",
        auth::usersig::generate(sdkappid, &app.secret_key, identifier, expire, auth::now(), None)
    );
    Ok(())
}
