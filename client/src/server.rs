//! A client of the server's recorder-facing API, authenticated with a UserSig on every request.

use crate::api::{AuthInfo, CreateTask, Envelope, ErrorResponse, StopTask, TaskCreated, TaskStatus};
use serde::de::DeserializeOwned;

#[derive(Debug, Clone)]
pub struct Credentials {
    pub sdk_app_id: u64,
    pub user_id: String,
    pub user_sig: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("network: {0}")]
    Network(#[from] reqwest::Error),
    /// The server refused: its `Response.Error` code and message, and the HTTP status.
    #[error("server refused ({status}, code {code}): {message}")]
    Refused { status: u16, code: i64, message: String },
    #[error("local file: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(String),
    /// A tus upload moved on (409: `conflict`) or vanished (404, 410) under a PATCH: ask its
    /// offset again.
    #[error("upload moved: {message}")]
    UploadMoved { conflict: bool, message: String },
}

impl Error {
    /// Worth retrying as it is: the network, the server's own trouble (5xx), a lock (423), a
    /// request the server gave up waiting for (408), or too many at once (429).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Network(_) | Error::UploadMoved { .. } => true,
            Error::Refused { status, .. } => *status >= 500 || matches!(status, 408 | 423 | 429),
            _ => false,
        }
    }

    /// The server's "already done" or "not possible": the request conflicts with the task's
    /// state (409, -10008) or the task is gone (404, -10007). Asking again cannot change that.
    pub fn is_final(&self) -> bool {
        matches!(self, Error::Refused { status: 404 | 409, .. })
    }
}

#[derive(Debug, Clone)]
pub struct ServerClient {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) creds: Credentials,
}

impl ServerClient {
    pub fn new(base: &str, creds: Credentials) -> ServerClient {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("a TLS backend is compiled in");
        ServerClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            creds,
        }
    }

    /// `Authorization: UserSig ...` (identifiers percent-encoded, so any UserId travels).
    pub(crate) fn authorization(&self) -> String {
        let id: String = self
            .creds
            .user_id
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!(
            "UserSig sdkappid={},identifier={id},usersig={}",
            self.creds.sdk_app_id, self.creds.user_sig
        )
    }

    pub(crate) async fn answer<T: DeserializeOwned>(r: reqwest::Response) -> Result<T, Error> {
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await?;
        if let Ok(Envelope { response: refusal }) = serde_json::from_value::<Envelope<ErrorResponse>>(v.clone()) {
            return Err(Error::Refused {
                status,
                code: refusal.error.code,
                message: refusal.error.message,
            });
        }
        serde_json::from_value::<Envelope<T>>(v)
            .map(|e| e.response)
            .map_err(|e| Error::Protocol(e.to_string()))
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl serde::Serialize) -> Result<T, Error> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("authorization", self.authorization())
            .json(body)
            .send()
            .await?;
        Self::answer(r).await
    }

    /// The recorder's Init: proves the credentials.
    pub async fn auth(&self) -> Result<AuthInfo, Error> {
        self.post("/localrecord/v1/auth", &serde_json::json!({})).await
    }

    pub async fn create_task(&self, req: &CreateTask) -> Result<String, Error> {
        self.post::<TaskCreated>("/localrecord/v1/tasks", req)
            .await
            .map(|t| t.task_id)
    }

    pub async fn stop_task(&self, task_id: &str, slice_count: i32) -> Result<TaskStatus, Error> {
        self.post(
            &format!("/localrecord/v1/tasks/{task_id}/stop"),
            &StopTask { slice_count },
        )
        .await
    }

    pub async fn task_status(&self, task_id: &str) -> Result<TaskStatus, Error> {
        let r = self
            .http
            .get(format!("{}/localrecord/v1/tasks/{task_id}", self.base))
            .header("authorization", self.authorization())
            .send()
            .await?;
        Self::answer(r).await
    }
}

impl ServerClient {
    /// The same server and connection pool, other credentials.
    pub fn with_credentials(&self, creds: Credentials) -> ServerClient {
        ServerClient {
            http: self.http.clone(),
            base: self.base.clone(),
            creds,
        }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// Tells the server the recorder is alive (recording or paused), so the task is not spliced
    /// as abandoned. Ok(false): this server has no keepalive endpoint (an older one).
    pub async fn keepalive(&self, task_id: &str) -> Result<bool, Error> {
        let r = self
            .http
            .post(format!("{}/localrecord/v1/tasks/{task_id}/keepalive", self.base))
            .header("authorization", self.authorization())
            .send()
            .await?;
        match Self::answer::<serde_json::Value>(r).await {
            Ok(_) => Ok(true),
            // The endpoint missing, or the task gone? The task's own status tells them apart.
            Err(Error::Refused { status: 404, .. }) => self.task_status(task_id).await.map(|_| false),
            Err(e) => Err(e),
        }
    }

    /// The server-side pause/resume marks (best effort: the recording itself is local).
    pub async fn mark(&self, task_id: &str, what: &str) -> Result<(), Error> {
        self.post::<serde_json::Value>(
            &format!("/localrecord/v1/tasks/{task_id}/{what}"),
            &serde_json::json!({}),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    fn refused(status: u16, code: i64) -> Error {
        Error::Refused {
            status,
            code,
            message: String::new(),
        }
    }

    #[test]
    fn only_already_done_or_gone_is_final_and_trouble_is_transient() {
        for (status, code) in [(409, -10008), (404, -10007)] {
            assert!(refused(status, code).is_final() && !refused(status, code).is_transient());
        }
        for status in [408, 423, 429, 500, 503] {
            assert!(
                refused(status, 0).is_transient() && !refused(status, 0).is_final(),
                "{status}"
            );
        }
        for status in [400, 401, 403, 413] {
            let e = refused(status, 0);
            assert!(!e.is_transient() && !e.is_final(), "{status}");
        }
    }
}
