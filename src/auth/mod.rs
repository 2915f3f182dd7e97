//! Signing and verifying, nothing else: UserSig, the query API's sign, Standard Webhooks
//! signatures. The request extractor built on them is `http::caller`.

pub mod query_sign;
pub mod usersig;
pub mod webhook;

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
