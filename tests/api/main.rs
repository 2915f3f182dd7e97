//! One integration-test binary: the real server against real Postgres, real s3s-fs and the fs store.

mod callbacks;
mod client;
mod embedded;
mod fuzz_regressions;
mod helpers;
mod https;
mod jobs;
mod media;
mod multi_instance;
mod query;
mod recorder;
mod recorder_audio;
mod recorder_control;
mod recorder_crash;
mod recorder_support;
mod recorder_x11;
mod recording;
mod splice;
mod tasks;
mod tus;
mod tus_clients;
mod tus_s3;
mod usersig;
