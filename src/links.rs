//! Links to recordings (the seed's `VideoOutputUrl`) and the record every answer and callback
//! describes a recording with. Built from the public base URL and the link lifetime alone, so the
//! query API, the console and the callback job make the same links without sharing any state.

use crate::config::Settings;
use crate::db::apps::App;
use crate::db::tasks::Task;
pub use localrecord_api::RecordInfo;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How recordings are linked.
#[derive(Clone, Debug)]
pub struct Links {
    /// The public base URL, without a trailing slash.
    pub base: String,
    /// `query.recording_url_ttl_secs`: links carry `expires` and `sig` when non-zero.
    pub ttl_secs: u64,
}

impl Links {
    pub fn new(settings: &Settings) -> Links {
        Links {
            base: settings.public_base(),
            ttl_secs: settings.query.recording_url_ttl_secs,
        }
    }

    /// The URL of a recording, signed with the app's TicKey when links expire.
    pub fn recording(&self, app: &App, video_output_id: &str) -> String {
        let url = format!("{}/localrecord/v1/recordings/{video_output_id}.mp4", self.base);
        match self.ttl_secs {
            0 => url,
            ttl => {
                let expires = crate::auth::now() + ttl as i64;
                let sig = sig(&app.tic_key, video_output_id, expires);
                format!("{url}?expires={expires}&sig={sig}")
            }
        }
    }
}

/// A recording link's `sig`: HMAC-SHA256 of `recording:{id}:{expires}` with a TicKey.
pub fn sig(key: &str, video_output_id: &str, expires: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("recording:{video_output_id}:{expires}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The record of a task's recording, as the query API lists it and the callback sends it.
pub fn record_info(links: &Links, app: &App, t: Task) -> RecordInfo {
    let id = t.video_output_id.unwrap_or_default();
    RecordInfo {
        room_id: t.class_id,
        user_id: t.user_id,
        task_id: t.task_id,
        start_time: t.start_time.timestamp(),
        splic_time: t.splic_time.map(|s| s.timestamp()).unwrap_or(0),
        video_output_type: "mp4".into(),
        video_output_url: links.recording(app, &id),
        video_output_id: id,
        video_output_size: t.video_output_size.unwrap_or(0),
        video_output_duration: t.video_output_duration_ms.unwrap_or(0),
        encrypted: t.video_key_id.is_some(),
        key_id: t.video_key_id,
    }
}
