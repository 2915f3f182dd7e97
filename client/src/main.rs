//! `localrecord-recorder`: `serve` runs the seed's local control API; `record` records from the
//! command line; `recover` finishes what earlier runs left and exits.

mod args;
mod cli;
mod crypt_cli;
mod mix_record;
mod progress;
mod record;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "localrecord-recorder",
    version,
    about = "Records a screen or window into FLV slices and uploads them to a localrecord server"
)]
struct Args {
    /// The localrecord server
    #[arg(
        long,
        env = "LOCALRECORD_SERVER_URL",
        global = true,
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// Task book, upload journal and slices waiting for upload
    #[arg(long, env = "LOCALRECORD_RECORDER_DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    capture: cli::CaptureArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the local control API (POST /localrecord/v1/{Init,StartRecord,...})
    Serve(cli::ServeArgs),
    /// Record from the command line, upload, wait for the server to finish; or, with --layout,
    /// record a mixer layout into --output files
    Record(record::RecordArgs),
    /// Upload what earlier runs left (after a crash or reboot), complete their tasks, exit
    Recover(cli::RecoverArgs),
    /// Decrypt an encrypted slice or recording with --key-file's key (prints a JSON summary)
    Decrypt(crypt_cli::DecryptArgs),
    /// Play an encrypted slice or recording: its plaintext is piped into ffplay, never written
    Play(crypt_cli::PlayArgs),
    /// Finish mixer outputs a killed recorder left: a fragmented mp4 becomes a normal one, in place
    Repair { files: Vec<PathBuf> },
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "localrecord_client=info,localrecord_recorder=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let r = rt.block_on(run(args));
    // Background work (the upload queue) ends before the verdict is printed, so the error is the
    // last line the user sees, not a retry notice from a task cut short by the exit.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let data_dir = args.data_dir.unwrap_or_else(cli::default_data_dir);
    let mut settings = args.capture.settings(args.server.clone(), data_dir);
    settings.key = args.capture.key()?;
    let key = settings.key.clone();
    match args.command {
        Command::Serve(a) => cli::serve(settings, args.capture.origins()?, a).await,
        Command::Record(a) => record::record(settings, a).await,
        Command::Recover(a) => cli::recover(settings, a).await,
        Command::Decrypt(a) => crypt_cli::decrypt(key.as_deref(), a),
        Command::Play(a) => crypt_cli::play(key.as_deref(), a),
        Command::Repair { files } => repair(&files),
    }
}

/// Prints `{"File","Repaired"}` per file (Repaired false: nothing to do, e.g. flv, ts, a final mp4).
fn repair(files: &[PathBuf]) -> anyhow::Result<()> {
    ffmpeg_next::init()?;
    for f in files {
        let changed = localrecord_client::mixer::output::repair(f)?;
        println!("{}", serde_json::json!({"File": f, "Repaired": changed}));
    }
    Ok(())
}
