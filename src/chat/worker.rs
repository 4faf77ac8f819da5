//! `lifelapse worker`: takes analysis and render jobs from the cluster's work queues, one of
//! each kind at a time, and runs them with this process's own face networks and resident
//! generative engine (one worker per GPU, or per CPU machine). While a job runs the worker says
//! it is alive three times per ack wait, reports render progress, and stops the job when its
//! session cancels; the result goes to the object store and the outcome to the front-ends, and
//! only then is the job acknowledged. A worker killed mid-job leaves it to another worker.

use super::conversation::{Conversation, JobKind};
use super::jobs::{self, JobError, Outcome};
use super::lock;
use super::remote::{Done, Job, Progress, Work};
use crate::cluster::{self, op, Cluster, ClusterError, Queue};
use crate::config::Config;
use crate::leaves::cancel::CancelToken;
use crate::store::nats::NatsStore;
use crate::store::{SessionKey, SessionStore};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("lifelapse worker needs a NATS server: set [cluster] nats_url in config.toml or LIFELAPSE_CLUSTER_NATS_URL")]
    NoCluster,
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// How long one wait for a job lasts before the worker looks at its stop flag again.
const TAKE_WAIT: Duration = Duration::from_secs(2);

struct Worker {
    cluster: Arc<Cluster>,
    store: NatsStore<Conversation>,
    workbench: jobs::Workbench,
    /// The running jobs' cancel tokens, by session.
    running: Mutex<HashMap<SessionKey, CancelToken>>,
    stop: AtomicBool,
}

/// Runs until interrupted (Ctrl-C or SIGTERM): the jobs running then are finished first.
pub fn run(config: Config) -> Result<(), WorkerError> {
    let options = cluster::Options::from_config(&config).ok_or(WorkerError::NoCluster)?;
    let url = options.url.clone();
    let cluster = Cluster::connect(options, cluster::Role::Worker)?;
    let worker = Arc::new(Worker {
        store: NatsStore::new(cluster.clone()),
        workbench: jobs::Workbench::new(config),
        cluster,
        running: Mutex::new(HashMap::new()),
        stop: AtomicBool::new(false),
    });
    worker.follow_cancels();
    let w = worker.clone();
    worker.cluster.spawn(async move {
        super::serve::shutdown_signal().await;
        tracing::info!("stopping after the running jobs");
        w.stop.store(true, Ordering::SeqCst);
    });
    // Said on stderr so scripts and tests know it is ready.
    eprintln!("worker: taking jobs from {url}");
    let lanes: Vec<_> = Queue::ALL
        .into_iter()
        .map(|queue| {
            let w = worker.clone();
            std::thread::spawn(move || w.lane(queue))
        })
        .collect();
    for lane in lanes {
        let _ = lane.join();
    }
    tracing::info!("stopped");
    Ok(())
}

impl Worker {
    /// Stops a session's running job when its session cancels (on any front-end).
    fn follow_cancels(self: &Arc<Self>) {
        let (client, worker) = (self.cluster.client.clone(), Arc::downgrade(self));
        self.cluster.spawn(async move {
            let mut cancels = match client.subscribe(cluster::CANCEL_SUBJECT).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cancels cannot be followed");
                    return;
                }
            };
            while let Some(m) = cancels.next().await {
                let (Some(w), Ok(key)) = (
                    worker.upgrade(),
                    serde_json::from_slice::<SessionKey>(&m.payload),
                ) else {
                    continue;
                };
                let token = lock(&w.running).get(&key).cloned();
                if let Some(token) = token {
                    tracing::info!(session = %key.db_key(), "job cancelled");
                    token.cancel();
                }
            }
        });
    }

    /// Takes jobs of one queue, one at a time, until stopped.
    fn lane(&self, queue: Queue) {
        let cluster = self.cluster.clone();
        let consumer = match self
            .cluster
            .call("opening a job queue", async move {
                cluster.consumer(queue.stream(), cluster::WORKERS).await
            })
            .and_then(|opened| opened)
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %crate::chain::Chain(&e), ?queue, "cannot take jobs");
                return;
            }
        };
        // The queue's own ack wait (the front-ends set it), for the heartbeats.
        let ack_wait = consumer.cached_info().config.ack_wait;
        while !self.stop.load(Ordering::SeqCst) {
            let c = consumer.clone();
            let taken = self
                .cluster
                .call("taking a job", async move {
                    let mut batch = c
                        .batch()
                        .max_messages(1)
                        .expires(TAKE_WAIT)
                        .messages()
                        .await?;
                    batch.next().await.transpose()
                })
                .and_then(|taken| taken.map_err(op("taking a job")));
            match taken {
                Ok(Some(message)) => self.take(message, ack_wait),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %crate::chain::Chain(&e), ?queue, "taking a job failed; again in a second");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }

    /// One job: checked, run with heartbeats, its outcome published, then acknowledged. A job
    /// that panics is left unacknowledged, so it is tried again and in the end given up.
    fn take(&self, message: Message, ack_wait: Duration) {
        let delivery = message.info().map_or(1, |i| i.delivered);
        let job: Job = match serde_json::from_slice(&message.payload) {
            Ok(job) => job,
            Err(e) => {
                tracing::warn!(error = %e, "a job cannot be read; dropped");
                self.acknowledge(Arc::new(message), AckKind::Term);
                return;
            }
        };
        let message = Arc::new(message);
        match self.store.load(&job.session) {
            Ok(Some(c)) if job.wanted_by(&c) => {}
            Ok(_) => {
                tracing::info!(job = job.id(), "job no longer wanted; skipped");
                self.acknowledge(message, AckKind::Ack);
                return;
            }
            Err(e) => {
                // Left unacknowledged: tried again after the ack wait.
                tracing::warn!(error = %e, job = job.id(), "the job's session cannot be read");
                return;
            }
        }
        tracing::info!(job = job.id(), delivery, kind = ?job.kind(), "job started");
        let heartbeat = {
            let (m, every) = (message.clone(), ack_wait / 3);
            self.cluster.spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = m.ack_with(AckKind::Progress).await {
                        tracing::warn!(error = %e, "telling the queue a job is alive failed");
                    }
                }
            })
        };
        let cancel = CancelToken::default();
        lock(&self.running).insert(job.session.clone(), cancel.clone());
        let started = std::time::Instant::now();
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.work(&job, &cancel)));
        lock(&self.running).remove(&job.session);
        heartbeat.abort();
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::error!(job = job.id(), "job panicked; left for another try");
                return;
            }
        };
        if let Some(outcome) = outcome {
            let done = Done {
                job: job.clone(),
                outcome,
                elapsed_ms: started.elapsed().as_millis() as u64,
            };
            if let Err(e) = self.publish_done(&done) {
                // Left unacknowledged: done again, and the outcome's id drops a second one.
                tracing::warn!(error = %crate::chain::Chain(&e), job = job.id(), "publishing an outcome failed");
                return;
            }
        }
        self.acknowledge(message, AckKind::Ack);
        tracing::info!(job = job.id(), "job finished");
    }

    /// The job's work; None when it was cancelled.
    fn work(&self, job: &Job, cancel: &CancelToken) -> Option<Outcome> {
        match &job.work {
            Work::Analyze { photos } => {
                Some(self.workbench.analyze(&self.store, &job.session, photos))
            }
            Work::Render {
                choices,
                upload_limit,
            } => {
                let progress = jobs::throttled(|percent| self.publish_progress(job, percent));
                match self.workbench.render(
                    &self.store,
                    &job.session,
                    choices,
                    *upload_limit,
                    cancel,
                    &progress,
                ) {
                    Ok(outcome) => Some(outcome),
                    Err(JobError::Cancelled) => None,
                    Err(e) => Some(Outcome::failed(JobKind::Render, &e)),
                }
            }
        }
    }

    fn publish_done(&self, done: &Done) -> Result<(), ClusterError> {
        let payload = serde_json::to_vec(done).map_err(op("encoding an outcome"))?;
        let (js, id) = (self.cluster.jetstream.clone(), done.job.id());
        self.cluster
            .call("publishing an outcome", async move {
                let message = PublishMessage::build()
                    .payload(payload.into())
                    .message_id(id);
                js.send_publish(cluster::OUTCOME_SUBJECT, message)
                    .await?
                    .await
            })?
            .map(|_| ())
            .map_err(op("publishing an outcome"))
    }

    /// Progress is fire-and-forget: the render never waits for it.
    fn publish_progress(&self, job: &Job, percent: u8) {
        let Ok(payload) = serde_json::to_vec(&Progress {
            job: job.clone(),
            percent,
        }) else {
            return;
        };
        let client = self.cluster.client.clone();
        self.cluster.spawn(async move {
            let _ = client
                .publish(cluster::PROGRESS_SUBJECT, payload.into())
                .await;
        });
    }

    fn acknowledge(&self, message: Arc<Message>, kind: AckKind) {
        let acked = self
            .cluster
            .call("acknowledging a job", async move {
                message.double_ack_with(kind).await
            })
            .and_then(|acked| acked.map_err(op("acknowledging a job")));
        if let Err(e) = acked {
            tracing::warn!(error = %crate::chain::Chain(&e), "acknowledging a job failed");
        }
    }
}
