//! Builds the application on a given listener (port 0 in tests), spawns its background workers and
//! serves until a shutdown signal, finishing in-flight requests.

use crate::config::Settings;
use crate::embedded_pg::EmbeddedPostgres;
use crate::http::AppState;
use crate::store::Store;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub struct Application {
    listener: TcpListener,
    /// `metrics.listen`, bound at build time like the API listener.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    /// Kept alive for as long as the application: dropping it stops the private PostgreSQL.
    _postgres: Option<EmbeddedPostgres>,
}

/// Creates the data dir readable by this user alone (0700; the private PostgreSQL, run as another
/// user under root, adds the traverse bit it needs, never read).
fn private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode & 0o076 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700 | (mode & 0o001)))?;
    }
    Ok(())
}

/// Connects to the configured database, or starts the private one under the data dir.
pub async fn database(settings: &Settings) -> anyhow::Result<(PgPool, Option<EmbeddedPostgres>)> {
    let (url, embedded) = match &settings.database_url {
        Some(url) => (url.expose_secret().to_owned(), None),
        None => {
            let pg = EmbeddedPostgres::start(&settings.data_dir.join("postgres")).await?;
            (pg.url(), Some(pg))
        }
    };
    let pool = crate::db::connect(&url, settings.db.max_connections).await?;
    crate::db::MIGRATOR.run(&pool).await?;
    Ok((pool, embedded))
}

impl Application {
    /// Connects (and migrates) the database, opens the store and binds `settings.listen`.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Application> {
        private_dir(&settings.data_dir)?;
        let (db, postgres) = database(&settings).await?;
        let store = Store::from_settings(&settings.store, &settings.data_dir)?;
        store.check().await?;
        let listener = TcpListener::bind(settings.listen).await?;
        // Port 0 means "any": links must carry the port actually bound.
        settings.listen = listener.local_addr()?;
        let metrics_listener = match settings.metrics.listen {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        let http = crate::outbound::client(&settings.callback)?;
        let scratch = Arc::new(crate::scratch::Scratch::create(&settings.data_dir)?);
        let state = AppState::new(crate::jobs::Context {
            db,
            store,
            settings: Arc::new(settings),
            http,
            scratch,
        });
        Ok(Application {
            listener,
            metrics_listener,
            state,
            _postgres: postgres,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then gives in-flight requests and jobs
    /// `shutdown_grace_secs` to finish; what is still running then is dropped (requests) or handed
    /// back to the queue (jobs), so the process always ends within the grace period.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.state.settings.shutdown_grace_secs);
        // None while serving; the instant by which everything must be done once shutting down.
        let (stop_tx, stop_rx) = watch::channel::<Option<Instant>>(None);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(Some(Instant::now() + grace));
            // Keep the channel open so receivers see the value rather than a closed sender.
            std::future::pending::<()>().await;
        });
        let sweeper = tokio::spawn(crate::ingest::sweep::run(self.state.ingest.clone()));
        let jobs = self.state.settings.jobs.enabled.then(|| self.state.jobs.clone());
        let worker = (jobs.clone()).map(|j| tokio::spawn(crate::jobs::worker::run(j, stop_rx.clone())));
        let retention = jobs.map(|j| tokio::spawn(crate::jobs::retention::schedule(j)));
        let metrics = match self.metrics_listener.take() {
            Some(listener) => {
                tracing::info!(addr = %listener.local_addr()?, "serving /metrics");
                let router = crate::http::metrics::open_router(self.state.clone());
                Some(tokio::spawn(async move { axum::serve(listener, router).await.ok() }))
            }
            None => None,
        };
        let stopping = {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| s.is_some()).await;
            }
        };
        let addr = self.local_addr();
        let serve = serve(self.listener, &self.state, addr, stopping)?;
        let deadline = {
            let mut rx = stop_rx.clone();
            async move {
                let by = rx.wait_for(|s| s.is_some()).await.ok().and_then(|v| *v);
                match by {
                    Some(by) => tokio::time::sleep_until(by.into()).await,
                    None => std::future::pending().await,
                }
            }
        };
        tokio::select! {
            _ = serve => {}
            _ = deadline => {
                tracing::warn!(grace_secs = grace.as_secs(), "grace period over: closing the connections still open");
            }
        };
        sweeper.abort();
        if let Some(m) = metrics {
            m.abort();
        }
        if let Some(r) = retention {
            r.abort();
        }
        if let Some(w) = worker {
            // The worker hands its jobs back by the same deadline; a little slack for the database.
            if tokio::time::timeout(grace + Duration::from_secs(2), w).await.is_err() {
                tracing::warn!("job worker did not stop in time");
            }
        }
        // Connections still held by abandoned work are not waited for.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.state.db.close()).await;
        Ok(())
    }
}

/// The API's server on `listener`, over TLS when configured, until `stopping` resolves.
fn serve(
    listener: TcpListener,
    state: &AppState,
    addr: SocketAddr,
    stopping: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> {
    let app = crate::http::router(state.clone());
    let limits = state.settings.edge.clone();
    let tls = &state.settings.tls;
    Ok(match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let acceptor = crate::tls::acceptor(cert, key)?;
            tracing::info!(%addr, store = ?state.store.backend(), "serving HTTPS");
            let listener = crate::tls::TlsListener::new(listener, acceptor)?;
            Box::pin(crate::http::serve::serve(listener, app, limits, stopping))
        }
        (None, None) => {
            tracing::info!(%addr, store = ?state.store.backend(), "serving HTTP");
            // Small answers go out at once, not after the peer's delayed ACK.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            Box::pin(crate::http::serve::serve(listener, app, limits, stopping))
        }
        _ => return Err(anyhow::anyhow!("tls.cert_file and tls.key_file go together")),
    })
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    ctrl_c.await.ok();
    tracing::info!("shutting down");
}
