//! Operator actions behind `localrecord app ...`: create apps with fresh keys, list them, rotate
//! their keys, switch local recording on or off.

use crate::db::apps::{self, App};
use base64::Engine;
use rand::distributions::{Alphanumeric, DistString};
use rand::RngCore;
use serde::Serialize;
use sqlx::PgPool;

/// What `app create` and `app list` print. Contains keys: for the operator's eyes only.
#[derive(Serialize)]
pub struct AppKeys {
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: i64,
    #[serde(rename = "SecretKey")]
    pub secret_key: String,
    #[serde(rename = "TicKey")]
    pub tic_key: String,
    #[serde(rename = "WebhookSecret")]
    pub webhook_secret: String,
    #[serde(rename = "AdminIdentifiers")]
    pub admin_identifiers: Vec<String>,
    #[serde(rename = "LocalRecordEnabled")]
    pub local_record_enabled: bool,
    #[serde(rename = "CallbackUrl")]
    pub callback_url: Option<String>,
}

impl From<App> for AppKeys {
    fn from(a: App) -> AppKeys {
        AppKeys {
            sdk_app_id: a.sdk_app_id,
            secret_key: a.secret_key,
            tic_key: a.tic_key,
            webhook_secret: a.webhook_secret,
            admin_identifiers: a.admin_identifiers,
            local_record_enabled: a.local_record_enabled,
            callback_url: a.callback_url,
        }
    }
}

/// A 64-hex-digit key, the shape of the SecretKeys Tencent's console issues.
pub fn new_secret_key() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

pub fn new_tic_key() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
}

/// `whsec_` + base64 of 32 random bytes (Standard Webhooks).
pub fn new_webhook_secret() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(b))
}

pub async fn create_app(
    db: &PgPool,
    sdk_app_id: i64,
    secret_key: Option<String>,
    tic_key: Option<String>,
    admins: Vec<String>,
) -> anyhow::Result<AppKeys> {
    anyhow::ensure!(sdk_app_id > 0, "--sdkappid must be a positive integer");
    for (name, k) in [("--secret-key", &secret_key), ("--tic-key", &tic_key)] {
        if let Some(k) = k {
            anyhow::ensure!(k.len() >= 16, "{name} must be at least 16 characters");
        }
    }
    let app = App {
        sdk_app_id,
        secret_key: secret_key.unwrap_or_else(new_secret_key),
        tic_key: tic_key.unwrap_or_else(new_tic_key),
        admin_identifiers: if admins.is_empty() {
            vec!["administrator".into()]
        } else {
            admins
        },
        local_record_enabled: true,
        callback_url: None,
        webhook_secret: new_webhook_secret(),
        previous: Default::default(),
    };
    match apps::insert(db, &app).await {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            anyhow::bail!("SdkAppId {sdk_app_id} already exists")
        }
        r => r?,
    }
    Ok(app.into())
}

/// Gives an app fresh keys of the kinds named; the replaced ones stay valid for `overlap`.
/// Prints like `app create`, with `PreviousValidUntil` (Unix time).
pub async fn rotate(
    db: &PgPool,
    sdk_app_id: i64,
    kinds: &[apps::KeyKind],
    overlap: std::time::Duration,
) -> anyhow::Result<serde_json::Value> {
    use apps::KeyKind;
    anyhow::ensure!(
        !kinds.is_empty(),
        "name the keys to rotate: --secret-key, --tic-key and/or --webhook-secret"
    );
    let mut tx = db.begin().await?;
    for kind in kinds {
        let new = match kind {
            KeyKind::SecretKey => new_secret_key(),
            KeyKind::TicKey => new_tic_key(),
            KeyKind::WebhookSecret => new_webhook_secret(),
        };
        anyhow::ensure!(
            apps::rotate(&mut *tx, sdk_app_id, *kind, &new, overlap).await?,
            "no app {sdk_app_id}"
        );
    }
    let app = apps::get(&mut *tx, sdk_app_id).await?.expect("updated above");
    let rotated: Vec<String> = kinds.iter().map(|k| format!("{k:?}")).collect();
    let detail = serde_json::json!({ "Rotated": rotated, "OverlapSecs": overlap.as_secs() });
    crate::db::audit::record(&mut *tx, sdk_app_id, "cli", "rotate", "", detail).await?;
    tx.commit().await?;
    let mut out = serde_json::to_value(AppKeys::from(app))?;
    out["Rotated"] = kinds.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().into();
    out["PreviousValidUntil"] = (chrono::Utc::now().timestamp() + overlap.as_secs() as i64).into();
    Ok(out)
}
