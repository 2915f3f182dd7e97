//! Builds the application on a given listener (port 0 in tests), spawns its background workers and
//! serves until a shutdown signal, finishing in-flight requests.

use crate::config::Settings;
use crate::embedded_pg::EmbeddedPostgres;
use crate::store::Store;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Everything a handler or worker needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: PgPool,
    pub store: Store,
    pub settings: Arc<Settings>,
    /// For callbacks: bounded time, no redirects (a redirect could lead to an internal address).
    pub http: reqwest::Client,
    /// Apps for the query API's hot path.
    pub apps: crate::db::apps::AppCache,
}

impl AppState {
    /// When an upload touched now expires.
    pub fn expiry_from_now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::Duration::seconds(self.settings.upload.expiry_secs as i64)
    }
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// Kept alive for as long as the application: dropping it stops the private PostgreSQL.
    _postgres: Option<EmbeddedPostgres>,
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
        let (db, postgres) = database(&settings).await?;
        let store = Store::from_settings(&settings.store, &settings.data_dir)?;
        store.check().await?;
        let listener = TcpListener::bind(settings.listen).await?;
        // Port 0 means "any": links must carry the port actually bound.
        settings.listen = listener.local_addr()?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(settings.callback.timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("localrecord/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let state = AppState {
            db,
            store,
            settings: Arc::new(settings),
            http,
            apps: Default::default(),
        };
        Ok(Application {
            listener,
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

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        crate::jobs::splice::clean_tmp(&self.state);
        let sweeper = tokio::spawn(crate::ingest::sweep::run(self.state.clone()));
        let worker = self
            .state
            .settings
            .jobs
            .enabled
            .then(|| tokio::spawn(crate::jobs::worker::run(self.state.clone())));
        let app = crate::http::router(self.state.clone());
        let tls = &self.state.settings.tls;
        let result = match (&tls.cert_file, &tls.key_file) {
            (Some(cert), Some(key)) => {
                let acceptor = crate::tls::acceptor(cert, key)?;
                tracing::info!(addr = %self.local_addr(), store = ?self.state.store.backend(), "serving HTTPS");
                let listener = crate::tls::TlsListener::new(self.listener, acceptor)?;
                axum::serve(listener, app.into_make_service())
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            (None, None) => {
                tracing::info!(addr = %self.local_addr(), store = ?self.state.store.backend(), "serving HTTP");
                axum::serve(self.listener, app.into_make_service())
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            _ => return Err(anyhow::anyhow!("tls.cert_file and tls.key_file go together")),
        };
        sweeper.abort();
        if let Some(w) = worker {
            w.abort();
        }
        self.state.db.close().await;
        Ok(result?)
    }
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
