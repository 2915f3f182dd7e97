//! Where an uploading output's slices go: `http(s)://...` (tus when the server speaks it, see
//! [`super::tus_target`], otherwise one PUT each) or `s3://bucket/prefix` (one object each,
//! through OpenDAL).

use super::super::types::{err, CrError};
use super::tus_target::{self, Resume, Tus};
use std::path::Path;
use std::time::Duration;

/// How `s3://` targets are reached.
#[derive(Clone, Default)]
pub struct S3Settings {
    /// None: AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        write!(
            f,
            "S3Settings({:?}, {}, {})",
            self.endpoint, self.region, self.access_key_id
        )
    }
}

impl S3Settings {
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (both needed), `AWS_REGION` (default
    /// us-east-1), `AWS_ENDPOINT_URL` (an S3-compatible server: MinIO, OSS, COS...).
    pub fn from_env() -> Option<S3Settings> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some(S3Settings {
            endpoint: var("AWS_ENDPOINT_URL"),
            region: var("AWS_REGION").unwrap_or_else(|| "us-east-1".into()),
            access_key_id: var("AWS_ACCESS_KEY_ID")?,
            secret_access_key: var("AWS_SECRET_ACCESS_KEY")?,
        })
    }
}

/// Whether `target` is an upload destination this build sends slices to.
pub fn supported(target: &str) -> bool {
    let t = target.to_ascii_lowercase();
    if t.starts_with("s3://") {
        return s3_parts(target).is_some();
    }
    (t.starts_with("http://") || t.starts_with("https://")) && reqwest::Url::parse(target).is_ok()
}

/// `s3://bucket/some/prefix` -> ("bucket", "some/prefix").
fn s3_parts(target: &str) -> Option<(&str, &str)> {
    let rest = target.get(5..)?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let ok = !bucket.is_empty()
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then_some((bucket, prefix.trim_matches('/')))
}

/// Where one output's slices go.
pub(super) enum Target {
    Http {
        client: reqwest::Client,
        base: String,
        speaks: Speaks,
    },
    S3 {
        op: opendal::Operator,
        prefix: String,
    },
}

/// What an `http(s)://` target takes, settled by its first answer to OPTIONS.
pub(super) enum Speaks {
    Unknown,
    Put,
    Tus(Tus),
}

/// One slice on its way: what its attempts share.
pub(super) struct Slice<'a> {
    name: String,
    path: &'a Path,
    size: u64,
    /// The whole file for a PUT or an S3 object, read at the first such attempt (tus reads
    /// chunks instead).
    body: Option<Vec<u8>>,
    /// How far its tus upload got.
    pub(super) tus: Resume,
}

impl<'a> Slice<'a> {
    pub(super) fn new(name: String, path: &'a Path, size: u64) -> Slice<'a> {
        Slice {
            name,
            path,
            size,
            body: None,
            tus: Resume::default(),
        }
    }

    async fn body(&mut self) -> Result<Vec<u8>, String> {
        if self.body.is_none() {
            let b = tokio::fs::read(self.path)
                .await
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
            self.body = Some(b);
        }
        Ok(self.body.clone().unwrap_or_default())
    }
}

impl Target {
    /// Checks the target and its settings (an `s3://` one needs [`S3Settings`]).
    pub(super) fn new(target: &str, s3: Option<S3Settings>) -> Result<Target, CrError> {
        let param = |m: String| CrError::new(err::PARAM_ERR, m);
        if let Some((bucket, prefix)) = s3_parts(target) {
            let s = s3
                .or_else(S3Settings::from_env)
                .ok_or_else(|| param("an s3:// target needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into()))?;
            let mut b = opendal::services::S3::default()
                .bucket(bucket)
                .region(&s.region)
                .access_key_id(&s.access_key_id)
                .secret_access_key(&s.secret_access_key)
                .disable_config_load()
                .disable_ec2_metadata();
            if let Some(e) = &s.endpoint {
                b = b.endpoint(e);
            }
            let op = opendal::Operator::new(b)
                .map_err(|e| param(format!("S3 settings: {e}")))?
                .finish();
            return Ok(Target::S3 {
                op,
                prefix: prefix.to_owned(),
            });
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| CrError::new(err::INNER_ERR, format!("HTTP client: {e}")))?;
        Ok(Target::Http {
            client,
            base: target.trim_end_matches('/').to_owned(),
            speaks: Speaks::Unknown,
        })
    }

    /// One attempt at sending a slice: tus to a server that speaks it (asking first, once),
    /// otherwise skipped when the target holds it already, else a PUT or an S3 object.
    pub(super) async fn send(&mut self, s: &mut Slice<'_>, tus_chunk: usize) -> Result<(), String> {
        if let Target::Http { client, base, speaks } = self {
            if matches!(speaks, Speaks::Unknown) {
                *speaks = match tus_target::discover(client, base).await? {
                    Some(t) => Speaks::Tus(t),
                    None => Speaks::Put,
                };
            }
            if let Speaks::Tus(t) = speaks {
                return t.send(client, (s.path, &s.name, s.size), tus_chunk, &mut s.tus).await;
            }
        }
        if self.has(&s.name, s.size).await {
            return Ok(());
        }
        let body = s.body().await?;
        self.put(&s.name, body).await
    }

    /// Whether the target holds `name` at `size` bytes already.
    async fn has(&self, name: &str, size: u64) -> bool {
        match self {
            Target::Http { client, base, .. } => already_there(client, &format!("{base}/{name}"), size).await,
            Target::S3 { op, prefix } => op
                .stat(&join(prefix, name))
                .await
                .is_ok_and(|m| m.content_length() == size),
        }
    }

    async fn put(&self, name: &str, body: Vec<u8>) -> Result<(), String> {
        match self {
            Target::Http { client, base, .. } => match client.put(format!("{base}/{name}")).body(body).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("HTTP {}", r.status())),
                Err(e) => Err(e.to_string()),
            },
            Target::S3 { op, prefix } => op
                .write(&join(prefix, name), body)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

/// Whether the server has the slice already (a HEAD answering its size): an earlier attempt
/// whose answer was lost, or a resumed output.
async fn already_there(client: &reqwest::Client, url: &str, size: u64) -> bool {
    match client.head(url).send().await {
        Ok(r) if r.status().is_success() => {
            r.headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                == Some(size)
        }
        _ => false,
    }
}
