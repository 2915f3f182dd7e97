//! `GET /localrecord/v1/Events`: the mixers' notifications as Server-Sent Events,
//! `event: LocMixerOutputInfo` with `data: {"mixerID","nameOrUrl","outputInfo":{...}}` and
//! `event: LocMixerSourceState` with `data: {"mixerID","source":{...}}`. A client that falls
//! behind by more than the backlog is dropped (its stream ends; EventSource reconnects), so a
//! stalled reader never makes the recorder buffer without bound.

use super::guard;
use super::mixers::{MixerEvent, Mixers};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// Event clients connected at once; one more is refused (503).
pub const MAX_CLIENTS: usize = 16;

/// Holds one of the [`MAX_CLIENTS`] places while its stream lives.
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An event as SSE.
pub fn sse_event(ev: &MixerEvent) -> Event {
    match ev {
        MixerEvent::Output(o) => Event::default()
            .event("LocMixerOutputInfo")
            .data(serde_json::to_string(o).unwrap_or_default()),
        MixerEvent::Source { mixer_id, source } => Event::default()
            .event("LocMixerSourceState")
            .data(json!({"mixerID": mixer_id, "source": source}).to_string()),
    }
}

/// The event stream of one client, subscribed before the answer's headers go out (so a client
/// that has the headers misses nothing that follows).
pub fn stream(mixers: &Mixers, clients: &Arc<AtomicUsize>) -> Response {
    if clients.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
        clients.fetch_sub(1, Ordering::SeqCst);
        return guard::refusal(StatusCode::SERVICE_UNAVAILABLE, "too many event clients");
    }
    let place = Place(clients.clone());
    let (rx, closed) = (mixers.subscribe(), mixers.closed());
    let s = futures::stream::unfold((rx, closed, place), |(mut rx, mut closed, place)| async move {
        // Events sent before the shutdown (the last outputs' state 2) still go out.
        if *closed.borrow() && rx.is_empty() {
            return None;
        }
        let ev = tokio::select! {
            biased;
            ev = rx.recv() => ev,
            _ = closed.changed() => return None,
        };
        match ev {
            Ok(ev) => Some((Ok::<_, Infallible>(sse_event(&ev)), (rx, closed, place))),
            Err(RecvError::Lagged(n)) => {
                tracing::warn!("an event client fell {n} events behind: dropped");
                None
            }
            Err(RecvError::Closed) => None,
        }
    });
    Sse::new(s).keep_alive(KeepAlive::default()).into_response()
}
