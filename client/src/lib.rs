//! localrecord-client: the recorder's side. `api` holds the wire types shared with the server;
//! `server` talks to the server (auth, tasks); `upload` uploads slices with tus, resumably, keeping
//! a journal on disk so an upload survives a crash or reboot of the recorder.

pub mod api;
pub mod server;
pub mod upload;
