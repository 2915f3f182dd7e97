//! One integration-test binary: the real server against real Postgres, real s3s-fs and the fs store.

mod callbacks;
mod client;
mod console;
mod console_support;
mod deploy;
mod edge;
mod embedded;
mod faults;
mod fencing;
mod fuzz_regressions;
mod gapless;
mod helpers;
mod https;
mod install;
mod jobs;
mod logs;
mod media;
mod metrics;
mod multi_instance;
mod own_muxer;
mod query;
#[path = "../chaos/receiver.rs"]
#[allow(dead_code)]
mod receiver;
mod recorder;
mod recorder_audio;
mod recorder_control;
mod recorder_crash;
mod recorder_load;
mod recorder_refusals;
mod recorder_security;
mod recorder_support;
mod recorder_untrusted;
mod recorder_x11;
mod recording;
mod retention;
mod security;
mod splice;
mod tasks;
mod topology;
mod topology_support;
mod tus;
mod tus_clients;
mod tus_s3;
mod usersig;
