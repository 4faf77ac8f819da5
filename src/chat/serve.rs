//! `lifelapse serve`: the store, the service, the health and metrics endpoint, and each chat
//! platform whose token is set, in one process. With a NATS URL, sessions and files live on the
//! cluster and the workers run the jobs; without, everything runs here with sled.

use super::conversation::Conversation;
use super::discord::{self, DiscordOptions};
use super::remote::Remote;
use super::service::{serve_metrics, Service};
use super::telegram::{self, TelegramOptions};
use crate::config::{Config, Secrets};
use crate::store::nats::NatsStore;
use crate::store::SessionStore;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("no bot token is set: set LIFELAPSE_TELEGRAM_TOKEN (Telegram) and/or LIFELAPSE_DISCORD_TOKEN (Discord) in the environment")]
    NoPlatform,
    #[error("data directory {0}")]
    DataDir(String, #[source] std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("health and metrics address {0:?}")]
    Metrics(String, #[source] std::io::Error),
    #[error("async runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Telegram(#[from] telegram::TelegramError),
    #[error(transparent)]
    Discord(#[from] discord::DiscordError),
}

/// Runs until interrupted (Ctrl-C or SIGTERM). Everything is stored as it happens, so stopping
/// at any moment, even by SIGKILL, loses nothing: the next start continues.
pub fn serve(config: Config, secrets: Secrets) -> Result<(), ServeError> {
    if secrets.telegram_token.is_none() && secrets.discord_token.is_none() {
        return Err(ServeError::NoPlatform);
    }
    let data_dir = config.data_dir();
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| ServeError::DataDir(data_dir.display().to_string(), e))?;
    let service = match crate::cluster::Options::from_config(&config) {
        Some(options) => {
            let url = options.url.clone();
            let cluster =
                crate::cluster::Cluster::connect(options, crate::cluster::Role::FrontEnd)?;
            eprintln!("sessions and jobs on the cluster at {url}");
            let store: Arc<dyn SessionStore<Conversation>> =
                Arc::new(NatsStore::new(cluster.clone()));
            Service::start_with(config.clone(), store, Some(Remote::new(cluster)))
        }
        None => Service::start(
            config.clone(),
            Arc::new(crate::store::SledStore::open(&data_dir)?),
        ),
    };
    if !config.chat.metrics_addr.is_empty() {
        let addr = serve_metrics(service.clone(), &config.chat.metrics_addr)
            .map_err(|e| ServeError::Metrics(config.chat.metrics_addr.clone(), e))?;
        // Said on stderr so scripts (and tests with port 0) can find it.
        eprintln!("health and metrics on http://{addr}/health and /metrics");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let telegram = async {
            match secrets.telegram_token.clone() {
                Some(token) => {
                    eprintln!("serving: Telegram");
                    let options = TelegramOptions::from_config(&config, token);
                    telegram::run(service.clone(), options, stopped(stop_rx.clone()))
                        .await
                        .map_err(ServeError::from)
                }
                None => Ok(()),
            }
        };
        let discord = async {
            match secrets.discord_token.clone() {
                Some(token) => {
                    eprintln!("serving: Discord");
                    let options = DiscordOptions::from_config(&config, token);
                    discord::run(service.clone(), options, stopped(stop_rx.clone()))
                        .await
                        .map_err(ServeError::from)
                }
                None => Ok(()),
            }
        };
        // One platform failing stops the process: a half-working service should restart.
        tokio::try_join!(telegram, discord).map(|_| ())
    })?;
    tracing::info!("stopped");
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
