//! localrecord-client: the recorder. `api` is the wire-types crate shared with the server; `server`
//! talks to the server (auth, tasks); `upload` uploads one slice with tus, resumably; `capture`
//! grabs a screen or window and sound; `engine` encodes them into FLV slices; `recorder` ties a
//! recording to the task book and the upload queue; `control` is the seed's local HTTP API.

/// The wire types shared with the server (the `localrecord-api` crate).
pub use localrecord_api as api;
pub mod capture;
pub mod control;
pub mod durable;
pub mod engine;
pub mod mixer;
pub mod recorder;
pub mod server;
pub mod upload;
