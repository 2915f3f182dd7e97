//! `record`: record from the command line with a progress line, wait for the uploads and the
//! server's splice, print a JSON summary.

use crate::args::{parse_duration, parse_region, parse_window};
use crate::progress::Progress;
use localrecord_client::recorder::{Recorder, Settings, StartParams};
use localrecord_client::server::Credentials;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct RecordArgs {
    #[arg(long, env = "LOCALRECORD_SDKAPPID", required_unless_present = "layout")]
    sdkappid: Option<u64>,
    #[arg(long, env = "LOCALRECORD_USER_ID", required_unless_present = "layout")]
    user_id: Option<String>,
    /// The UserSig (better passed in the environment than on the command line)
    #[arg(
        long,
        env = "LOCALRECORD_USERSIG",
        hide_env_values = true,
        required_unless_present = "layout"
    )]
    user_sig: Option<String>,
    #[arg(long, required_unless_present = "layout")]
    class_id: Option<i64>,
    /// How long to record: 90, 30s, 5m, 1h (Ctrl-C stops earlier; with --layout, optional)
    #[arg(long, value_parser = parse_duration, required_unless_present = "layout")]
    duration: Option<Duration>,
    /// Seconds per slice
    #[arg(long, default_value_t = 300)]
    slice_time: u32,
    #[arg(long, default_value_t = 15)]
    fps: u32,
    /// Video bits per second
    #[arg(long, default_value_t = 1_000_000)]
    bps: u32,
    /// X window id to record (the seed's Wnd; 0x-hex or decimal)
    #[arg(long, value_parser = parse_window)]
    window: Option<u32>,
    /// Process whose window to record (the seed's AppProc)
    #[arg(long)]
    app_proc: Option<String>,
    /// Region inside the window (or screen): x,y,width,height
    #[arg(long, value_parser = parse_region)]
    region: Option<(u32, u32, u32, u32)>,
    #[arg(long)]
    no_audio: bool,
    /// Keep the slices local, upload nothing
    #[arg(long)]
    no_upload: bool,
    /// Also write the whole recording to this .flv file
    #[arg(long)]
    dst_path: Option<String>,
    /// Exit once recorded, leaving the uploads to `recover` or `serve`
    #[arg(long)]
    no_wait: bool,
    /// Seconds to wait for the uploads and the server's splice after recording
    #[arg(long, default_value_t = 600)]
    wait_secs: u64,
    #[command(flatten)]
    mix: crate::mix_record::MixArgs,
}

/// StartRecord's parameters from the command line: the whole screen unless a window or region
/// is named.
fn start_params(a: &RecordArgs) -> StartParams {
    let region = a.region.unwrap_or_default();
    StartParams {
        app_proc: a.app_proc.clone(),
        wnd: a.window,
        dst_path: a.dst_path.clone(),
        x: Some(region.0),
        y: Some(region.1),
        width: Some(region.2),
        height: Some(region.3),
        video_fps: Some(a.fps),
        video_bps: Some(a.bps),
        enable_audio: Some(!a.no_audio),
        enable_upload: Some(!a.no_upload),
        slice_time: Some(a.slice_time),
        class_id: a.class_id,
        whole_screen: true,
    }
}

pub async fn record(mut settings: Settings, mut a: RecordArgs) -> anyhow::Result<()> {
    if a.mix.layout.is_some() {
        let creds = match (a.sdkappid, a.user_id.clone(), a.user_sig.clone()) {
            (Some(sdk_app_id), Some(user_id), Some(user_sig)) => Some(Credentials {
                sdk_app_id,
                user_id,
                user_sig,
            }),
            _ => None,
        };
        let run = crate::mix_record::MixRun {
            duration: a.duration,
            audio: !a.no_audio,
            creds,
            wait: (!a.no_wait).then(|| Duration::from_secs(a.wait_secs)),
        };
        return crate::mix_record::record(settings, &a.mix, run).await;
    }
    // clap requires these without --layout.
    let (Some(sdk_app_id), Some(user_id), Some(user_sig), Some(duration)) =
        (a.sdkappid, a.user_id.clone(), a.user_sig.clone(), a.duration)
    else {
        anyhow::bail!("--sdkappid, --user-id, --user-sig, --class-id and --duration are required");
    };
    // The user at the keyboard named --dst-path: its directory is allowed (the file must still
    // be new and not a link).
    if let Some(p) = &a.dst_path {
        let p = std::path::absolute(p)?;
        settings.dst_dirs.extend(p.parent().map(|d| d.to_owned()));
        a.dst_path = Some(p.to_string_lossy().into_owned());
    }
    let rec = Recorder::open(settings)?;
    rec.init(Credentials {
        sdk_app_id,
        user_id,
        user_sig,
    })
    .await
    .map_err(|e| anyhow::anyhow!("Init: {e}"))?;
    let task = rec
        .start(start_params(&a))
        .await
        .map_err(|e| anyhow::anyhow!("StartRecord: {e}"))?;
    // The TaskId first, on its own line: scripts (and tests) can follow the task from here.
    println!("{{\"TaskId\":\"{task}\"}}");
    let mut progress = Progress::new(duration);
    let t0 = Instant::now();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => { eprintln!(); tracing::info!("interrupted: stopping"); break; }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        if t0.elapsed() >= duration || rec.ended_early(&task).is_some() {
            break;
        }
        progress.show(&rec, &task, "REC").await;
    }
    rec.stop().await.map_err(|e| anyhow::anyhow!("StopRecord: {e}"))?;
    if let Some(Some(e)) = rec.ended_early(&task) {
        tracing::error!("the recording ended early: {e}");
    }
    if a.no_upload || a.no_wait {
        progress.done();
        return summary(&rec, &task, None).await;
    }
    let deadline = Instant::now() + Duration::from_secs(a.wait_secs);
    wait_uploads(&rec, &task, deadline, &mut progress).await?;
    progress.done();
    let status = wait_splice(&rec, &task, deadline).await;
    summary(&rec, &task, status).await
}

/// Waits until the queue has every slice of `task` on the server and the task stopped; fails when
/// the server refused it for good or at `deadline`.
pub(crate) async fn wait_uploads(
    rec: &Recorder,
    task: &str,
    deadline: Instant,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    while !rec.uploader().is_done(task) {
        if let Some(why) = rec.uploader().abandoned(task) {
            progress.done();
            summary(rec, task, None).await?;
            anyhow::bail!(
                "task {task}: {why}. Not retrying; the recording stays in {}",
                rec.book().task_dir(task).display()
            );
        }
        if Instant::now() > deadline {
            anyhow::bail!("uploads of {task} not finished after the wait; `recover` continues them");
        }
        progress.show(rec, task, "UPLOAD").await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// Polls the server until the task is spliced (or failed, or the deadline passes).
pub(crate) async fn wait_splice(
    rec: &Recorder,
    task: &str,
    deadline: Instant,
) -> Option<localrecord_client::api::TaskStatus> {
    let client = rec.client()?;
    loop {
        match client.task_status(task).await {
            Ok(s) if s.is_finished() => return Some(s),
            Ok(s) if Instant::now() > deadline => return Some(s),
            Err(e) if Instant::now() > deadline => {
                tracing::warn!("task status: {e}");
                return None;
            }
            _ => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

pub(crate) async fn summary(
    rec: &Recorder,
    task: &str,
    status: Option<localrecord_client::api::TaskStatus>,
) -> anyhow::Result<()> {
    let views = rec.uploader().views(None);
    let v = views.iter().find(|v| v.task_id == task);
    let out = serde_json::json!({
        "TaskId": task,
        "RecordedMs": v.map(|v| v.total_ms),
        "UploadedMs": v.map(|v| v.uploaded_ms),
        "Upload": v.map(|v| v.state),
        "Reason": v.and_then(|v| v.reason.clone()),
        "Server": status,
    });
    println!("{out}");
    Ok(())
}
