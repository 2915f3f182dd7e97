//! Who is calling: UserSig verification and the request extractor built on it.

pub mod caller;
pub mod query_sign;
pub mod usersig;
pub mod webhook;

pub use caller::Caller;

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
