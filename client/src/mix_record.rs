//! `record --layout`: the CloudRoom mixer from the command line. One mixer (the layout file's
//! `mixerCfg` and `mixerContent`) records into every `--output` and every output of the layout's
//! own `mixerOutput` until Ctrl-C, SIGTERM or `--duration`; then each output's final
//! `LocMixerOutputInfo` is printed as a JSON line. Outputs uploaded to our server
//! (`localrecord:CLASSID`) take the recorder's TIC flow with the command line's credentials; the
//! command then waits for their tasks as `record` does and prints each task's summary line.

use localrecord_client::control::mixers::OutputView;
use localrecord_client::control::{Layout, MixerEnv, MixerEvent, Mixers};
use localrecord_client::mixer::types::{state, MixerOutput, OutputInfo};
use localrecord_client::recorder::{Recorder, Settings};
use localrecord_client::server::Credentials;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// A layout file is a few kilobytes; anything much larger is not one.
const MAX_LAYOUT: u64 = 1 << 20;
const ID: &str = "cli";

#[derive(clap::Args)]
pub struct MixArgs {
    /// Record a layout instead of a TIC recording: a JSON file
    /// {"mixerCfg":{...},"mixerContent":[...]} (the seed's CreateLocMixer); needs --output
    #[arg(long)]
    pub layout: Option<PathBuf>,
    /// A file the mixed recording goes to: .mp4, .ts, .flv, .avi or .mp3 (repeat for several;
    /// an `encrypt:` prefix encrypts it with --key-file's key)
    #[arg(long, requires = "layout")]
    pub output: Vec<String>,
    /// A file the mixed recording goes to, encrypted with --key-file's key (repeat)
    #[arg(long, requires = "layout")]
    pub output_encrypted: Vec<String>,
}

/// What `record` hands over besides the mixer's own flags.
pub struct MixRun {
    pub duration: Option<Duration>,
    pub audio: bool,
    /// `--sdkappid`, `--user-id`, `--user-sig`: needed by `localrecord:` outputs.
    pub creds: Option<Credentials>,
    /// How long to wait for uploads to our server; None: `--no-wait`.
    pub wait: Option<Duration>,
}

/// The `--output` and `--output-encrypted` files as the seed's `mixerOutput` list.
pub fn outputs(a: &MixArgs, have_key: bool) -> anyhow::Result<Vec<MixerOutput>> {
    let plain = a.output.iter().map(|o| match o.strip_prefix("encrypt:") {
        Some(f) => (f, 1),
        None => (o.as_str(), 0),
    });
    let encrypted = a.output_encrypted.iter().map(|f| (f.as_str(), 1));
    let outs = plain
        .chain(encrypted)
        .map(|(f, encrypt_type)| {
            anyhow::ensure!(!f.is_empty(), "--output needs a file name");
            anyhow::ensure!(
                have_key || encrypt_type == 0,
                "an encrypted output ({f}) needs --key-file"
            );
            Ok(MixerOutput {
                kind: 0,
                filename: std::path::absolute(f)?.to_string_lossy().into_owned(),
                encrypt_type,
                is_upload_on_recording: 0,
                server_path_file_name: None,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(outs)
}

fn to_our_server(o: &MixerOutput) -> bool {
    o.is_upload_on_recording == 1
        && o.server_path_file_name
            .as_deref()
            .is_some_and(|t| t.trim().starts_with("localrecord:"))
}

/// The recorder whose task book and upload queue `localrecord:` outputs go through, signed in.
async fn signed_in(settings: &Settings, creds: Option<Credentials>) -> anyhow::Result<std::sync::Arc<Recorder>> {
    let creds = creds.ok_or_else(|| {
        anyhow::anyhow!("a localrecord: output needs --sdkappid, --user-id and --user-sig (or LOCALRECORD_USERSIG)")
    })?;
    let rec = Recorder::open(settings.clone())?;
    rec.init(creds).await.map_err(|e| anyhow::anyhow!("Init: {e}"))?;
    Ok(rec)
}

fn read_layout(path: &std::path::Path) -> anyhow::Result<Layout> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let f = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("--layout {}: {e}", path.display()))?;
    f.take(MAX_LAYOUT + 1).read_to_end(&mut bytes)?;
    anyhow::ensure!(
        bytes.len() as u64 <= MAX_LAYOUT,
        "--layout: the file is larger than 1 MiB"
    );
    Layout::parse(&bytes).map_err(|e| anyhow::anyhow!("--layout {}: {e}", path.display()))
}

pub async fn record(settings: Settings, a: &MixArgs, run: MixRun) -> anyhow::Result<()> {
    let layout = read_layout(a.layout.as_deref().unwrap_or(std::path::Path::new("")))?;
    let mut outs = outputs(a, settings.key.is_some())?;
    for mut o in layout.outputs {
        o.filename = std::path::absolute(&o.filename)?.to_string_lossy().into_owned();
        outs.push(o);
    }
    anyhow::ensure!(
        !outs.is_empty(),
        "--layout needs at least one --output (or mixerOutput in the layout)"
    );
    let mut env = MixerEnv::from_settings(&settings);
    env.output_dirs = None; // the user's own command line names the files
    if !run.audio {
        env.audio = None;
    }
    let rec = match outs.iter().any(to_our_server) {
        true => Some(signed_in(&settings, run.creds.clone()).await?),
        false => None,
    };
    env.outputs.tasks = rec.as_ref().map(|r| r.mixer_feed());
    let mixers = Mixers::new(env);
    let mut events = mixers.subscribe();
    mixers
        .create(ID.into(), layout.cfg, layout.content)
        .await
        .map_err(|e| anyhow::anyhow!("CreateLocMixer: {e}"))?;
    let count = outs.len();
    if let Err(e) = mixers.with(ID, move |m| m.add_outputs(outs)).await {
        mixers.destroy_all().await;
        anyhow::bail!("AddLocMixerOutput: {e}");
    }
    // This run's tasks (and any an earlier run left), while they are all in the book.
    let tasks: Vec<String> = rec.as_ref().map_or_else(Vec::new, |r| {
        r.book()
            .all()
            .into_iter()
            .filter(|t| t.upload)
            .map(|t| t.task_id)
            .collect()
    });
    let mut last = BTreeMap::new();
    watch(&mut events, &mut last, count, run.duration).await;
    let destroyed = mixers.destroy(ID).await;
    loop {
        match events.try_recv() {
            Ok(ev) => note(&mut last, ev),
            Err(TryRecvError::Lagged(_)) => continue,
            Err(_) => break,
        }
    }
    eprintln!();
    let recorded = finish(&last, destroyed.err());
    if let (Some(rec), Some(wait)) = (rec, run.wait) {
        wait_for_tasks(&rec, &tasks, wait).await?;
    }
    recorded
}

/// Waits for `tasks` to be uploaded and spliced, printing each one's summary line as `record`
/// does.
async fn wait_for_tasks(rec: &Recorder, tasks: &[String], wait: Duration) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + wait;
    for task in tasks {
        let mut progress = crate::progress::Progress::new(Duration::ZERO);
        crate::record::wait_uploads(rec, task, deadline, &mut progress).await?;
        progress.done();
        let status = crate::record::wait_splice(rec, task, deadline).await;
        crate::record::summary(rec, task, status).await?;
    }
    Ok(())
}

/// Follows the outputs' events until Ctrl-C, SIGTERM, `duration`, or every output failed.
async fn watch(
    events: &mut tokio::sync::broadcast::Receiver<MixerEvent>,
    last: &mut BTreeMap<String, OutputInfo>,
    count: usize,
    duration: Option<Duration>,
) {
    let stop = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = crate::cli::terminated() => {}
            _ = tokio::time::sleep(duration.unwrap_or(Duration::MAX / 4)) => {}
        }
    };
    tokio::pin!(stop);
    loop {
        let ev = tokio::select! {
            _ = &mut stop => return,
            ev = events.recv() => ev,
        };
        match ev {
            Ok(ev) => note(last, ev),
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        }
        // Every output failed: nothing left to record into.
        if last.len() == count && last.values().all(|i| i.state == state::ERROR) {
            return;
        }
    }
}

/// Keeps each output's latest info and shows a progress line.
fn note(last: &mut BTreeMap<String, OutputInfo>, ev: MixerEvent) {
    match ev {
        MixerEvent::Output(o) => {
            last.insert(o.name_or_url, o.output_info);
            let ms = last.values().map(|i| i.duration).max().unwrap_or(0);
            let bytes: u64 = last.values().map(|i| i.file_size).sum();
            eprint!(
                "\rREC {:.1} s, {} output(s), {:.1} MB   ",
                ms as f64 / 1000.0,
                last.len(),
                bytes as f64 / 1e6
            );
        }
        MixerEvent::Source { source, .. } => {
            eprintln!(
                "\nsource {} is {}: {}",
                source.index,
                source.state,
                source.error.unwrap_or_default()
            );
        }
    }
}

/// Prints every output's final info; fails if one ended in error (or the mixer did).
fn finish(
    last: &BTreeMap<String, OutputInfo>,
    destroyed: Option<localrecord_client::mixer::types::CrError>,
) -> anyhow::Result<()> {
    for (name, info) in last {
        let v = OutputView {
            name_or_url: name.clone(),
            info: info.clone(),
        };
        println!("{}", serde_json::to_string(&v).unwrap_or_default());
    }
    if let Some(e) = destroyed {
        anyhow::bail!("DestroyLocMixer: {e}");
    }
    let failed: Vec<&str> = last
        .iter()
        .filter(|(_, i)| i.state == state::ERROR)
        .map(|(n, _)| n.as_str())
        .collect();
    anyhow::ensure!(failed.is_empty(), "output(s) failed: {}", failed.join(", "));
    Ok(())
}
