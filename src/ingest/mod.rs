//! Slice ingest, independent of the upload protocol and of the storage backend: the tus handler in
//! `http::upload` calls these, and these only see [`crate::store::Store`].

pub mod checksum;
pub mod finish;
pub mod md5;
pub mod receive;
pub mod sweep;

pub use finish::finish;
pub use receive::{receive, Received};
