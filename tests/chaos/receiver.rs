//! A webhook receiver that verifies every Standard Webhooks signature with its own HMAC and keeps
//! what it got: (webhook-id, TaskId, State), the body and when it arrived. Shared by the chaos
//! suite, the topology tests and the end-to-end benchmark.

use crate::helpers::verify_webhook;
use axum::http::HeaderMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub task: String,
    pub state: String,
    pub signature_ok: bool,
    pub body: serde_json::Value,
    pub at: std::time::Instant,
}

#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    /// Serves on `listener` forever, verifying with `secret` (`whsec_...`).
    pub fn serve(&self, listener: tokio::net::TcpListener, secret: &str) {
        let secret = secret.to_owned();
        let got = self.got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (got, secret) = (got.clone(), secret.clone());
                async move {
                    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    got.lock().unwrap().push(Delivery {
                        id: id.to_owned(),
                        task: v["TaskId"].as_str().unwrap_or("").to_owned(),
                        state: v["State"].as_str().unwrap_or("").to_owned(),
                        signature_ok: verify_webhook(&secret, &headers, &body),
                        body: v,
                        at: std::time::Instant::now(),
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
