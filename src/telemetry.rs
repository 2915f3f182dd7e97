//! Logging to stderr, filtered like `RUST_LOG` (default `info,sqlx=warn`). JSON lines (one object
//! per event, with the request's span fields such as `request_id`) unless stderr is a terminal;
//! `LOCALRECORD_LOG_FORMAT=json` or `text` decides explicitly.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let json = match std::env::var("LOCALRECORD_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().with_current_span(true).with_span_list(false).try_init()
    } else {
        builder.try_init()
    };
}
