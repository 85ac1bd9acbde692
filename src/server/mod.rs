//! `classcast serve`: start the services, serve HTTP until a signal, stop
//! the services.

mod config;
mod demo;
mod services;

pub use config::{Config, HlsSetup, HttpConfig, Retention, Site};
pub use services::Services;

use crate::auth::AuthError;
use crate::db::DbError;
use crate::hls::HlsError;
use crate::media::ice::IceServerError;
use crate::media::MediaError;
use crate::recording::RecordingError;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Ice(#[from] IceServerError),
    #[error(transparent)]
    Hls(#[from] HlsError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Recording(#[from] RecordingError),
    #[error(transparent)]
    Broker(#[from] crate::control::broker::BrokerError),
}

pub async fn serve(mut config: Config) -> Result<(), ServerError> {
    let listen = config.site.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| ServerError::Io(listen.to_string(), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| ServerError::Io(listen.to_string(), e))?;
    // Bound first: with port 0 the URL clients use is known only now.
    config
        .site
        .public_url
        .get_or_insert_with(|| format!("http://{local}"));
    let mut services = Services::start(&config).await?;
    let public_url = services.state.settings.public_url.clone();
    tracing::info!(%local, %public_url, "listening");
    // Tests and scripts read this line to learn the port.
    println!("classcast listening on {public_url}");
    if !crate::http::pages::built(&config.http.player_dir) {
        tracing::warn!(
            dir = %config.http.player_dir.display(),
            "the web app is not built here (run `make build`); pages will answer 404"
        );
    }
    if config.demo {
        services.start_demo().await?;
    }
    let app = services.router();
    crate::http::serve::serve(listener, app, config.http.connections, shutdown_signal()).await;
    services.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM: {e}");
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
