//! localrecord server: slice ingest over tus into object storage, recording tasks, UserSig auth.

pub mod admin;
pub mod auth;
pub mod config;
pub mod db;
pub mod embedded_pg;
pub mod failpoint;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod links;
pub mod metrics;
pub mod outbound;
pub mod progress;
pub mod quota;
pub mod recording_keys;
pub mod retention;
pub mod scratch;
pub mod splice;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
