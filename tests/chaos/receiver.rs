//! A webhook receiver that verifies every Standard Webhooks signature with its own HMAC and keeps
//! what it got: (webhook-id, TaskId, State).

use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub task: String,
    pub state: String,
    pub signature_ok: bool,
}

#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    /// Serves on `listener` forever, verifying with `secret` (`whsec_...`).
    pub fn serve(&self, listener: tokio::net::TcpListener, secret: &str) {
        let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
        let got = self.got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (got, key) = (got.clone(), key.clone());
                async move {
                    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    let (id, ts) = (h("webhook-id"), h("webhook-timestamp"));
                    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
                    mac.update(format!("{id}.{ts}.").as_bytes());
                    mac.update(&body);
                    let want = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    got.lock().unwrap().push(Delivery {
                        id,
                        task: v["TaskId"].as_str().unwrap_or("").to_owned(),
                        state: v["State"].as_str().unwrap_or("").to_owned(),
                        signature_ok: h("webhook-signature").split(' ').any(|s| s == want),
                    });
                    "ok"
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }
}
