//! The connection to a NATS server with JetStream, for running beyond one machine: the streams,
//! buckets and subjects every process agrees on, their creation, and a bridge through which
//! the plain threads of the chat service and the workers call the async client.
//!
//! What lives where: jobs in two work-queue streams (analyses; renders, bounded by the render
//! queue's capacity), what the jobs came to in a third that the front-ends share, jobs given
//! up after too many deliveries in a fourth (JetStream's own advisories, captured), sessions
//! and platform cursors in key-value buckets, photos and videos in an object store.

use async_nats::jetstream::{self, consumer, kv, object_store, stream};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub const SESSIONS_BUCKET: &str = "lifelapse_sessions";
pub const CURSORS_BUCKET: &str = "lifelapse_cursors";
pub const FILES_BUCKET: &str = "lifelapse_files";
pub const OUTCOMES_STREAM: &str = "LIFELAPSE_OUTCOMES";
pub const OUTCOME_SUBJECT: &str = "lifelapse.outcomes";
pub const DEAD_STREAM: &str = "LIFELAPSE_DEAD";
/// Render progress (core NATS: a lost one is replaced by the next).
pub const PROGRESS_SUBJECT: &str = "lifelapse.progress";
/// A session's job is cancelled (core NATS: a job that misses it is still refused by the
/// session's state when it starts or ends).
pub const CANCEL_SUBJECT: &str = "lifelapse.cancel";
/// The durable consumer the workers share on each job stream.
pub const WORKERS: &str = "workers";
/// The durable consumer the front-ends share on the outcomes and the dead jobs.
pub const FRONTENDS: &str = "frontends";
/// How long a job's id is remembered to drop a second publication of the same job (a
/// front-end that restarts resumes its sessions' jobs with the same ids).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(30 * 60);
/// The longest a single call to the server may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The two kinds of job, each in a work-queue stream of its own so that a full render queue
/// never stops analyses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Queue {
    Analyses,
    Renders,
}

impl Queue {
    pub const ALL: [Queue; 2] = [Queue::Analyses, Queue::Renders];

    pub fn stream(self) -> &'static str {
        match self {
            Self::Analyses => "LIFELAPSE_ANALYSES",
            Self::Renders => "LIFELAPSE_RENDERS",
        }
    }

    pub fn subject(self) -> &'static str {
        match self {
            Self::Analyses => "lifelapse.jobs.analyze",
            Self::Renders => "lifelapse.jobs.render",
        }
    }

    /// The advisory JetStream publishes when a job of this queue reached its last delivery.
    fn max_deliveries_advisory(self) -> String {
        format!(
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.{WORKERS}",
            self.stream()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach the NATS server at {url}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("NATS: {what}")]
    Op {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("NATS: {what} took longer than {seconds} s")]
    TimedOut { what: &'static str, seconds: u64 },
    #[error("the NATS connection's runtime")]
    Runtime(#[source] std::io::Error),
    #[error("the NATS connection is closed")]
    Closed,
}

/// Wraps an async-nats error (typed, or the client's boxed one) with what was being done.
pub fn op<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    what: &'static str,
) -> impl FnOnce(E) -> ClusterError {
    move |e| ClusterError::Op {
        what,
        source: e.into(),
    }
}

/// Who connects: the front-ends own the queues' settings (a changed capacity, ack wait or
/// delivery limit takes effect when one starts); workers take them as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    FrontEnd,
    Worker,
}

/// How to reach the cluster and how its queues behave.
#[derive(Debug, Clone)]
pub struct Options {
    pub url: String,
    pub ack_wait: Duration,
    pub max_deliver: i64,
    /// Renders waiting or running at most; one more is refused.
    pub render_capacity: usize,
}

impl Options {
    /// None when no NATS URL is set: one process, sessions in sled.
    pub fn from_config(config: &crate::config::Config) -> Option<Self> {
        let url = config.cluster.nats_url.trim();
        (!url.is_empty()).then(|| Self {
            url: url.to_string(),
            ack_wait: Duration::from_secs(u64::from(config.cluster.ack_wait_s.max(1))),
            max_deliver: i64::from(config.cluster.max_deliver.max(1)),
            render_capacity: config.chat.queue_capacity.max(1),
        })
    }
}

/// A runtime that is shut down without waiting, so that dropping the last handle from any
/// thread (an async one included) is safe.
struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// One connection to the cluster, shared by everything in a process.
pub struct Cluster {
    /// Kept for its lifetime: the connection's tasks run on it.
    _runtime: OwnedRuntime,
    handle: tokio::runtime::Handle,
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
    pub sessions: kv::Store,
    pub cursors: kv::Store,
    pub files: object_store::ObjectStore,
    pub options: Options,
}

impl Cluster {
    /// Connects and makes sure every stream and bucket exists (the first process creates them
    /// with `options`; a front-end also brings their settings in line with its own).
    pub fn connect(options: Options, role: Role) -> Result<Arc<Self>, ClusterError> {
        let adjust = role == Role::FrontEnd;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("nats")
            .enable_all()
            .build()
            .map_err(ClusterError::Runtime)?;
        let handle = runtime.handle().clone();
        let opts = options.clone();
        let (client, jetstream, sessions, cursors, files) = runtime.block_on(async move {
            let client = async_nats::ConnectOptions::new()
                .name("lifelapse")
                .connection_timeout(Duration::from_secs(10))
                .connect(&opts.url)
                .await
                .map_err(|source| ClusterError::Connect {
                    url: opts.url.clone(),
                    source,
                })?;
            let js = jetstream::new(client.clone());
            for queue in Queue::ALL {
                ensure_stream(&js, job_stream(queue, &opts), adjust).await?;
            }
            ensure_stream(
                &js,
                stream::Config {
                    name: OUTCOMES_STREAM.into(),
                    subjects: vec![OUTCOME_SUBJECT.into()],
                    retention: stream::RetentionPolicy::WorkQueue,
                    duplicate_window: DUPLICATE_WINDOW,
                    ..Default::default()
                },
                adjust,
            )
            .await?;
            ensure_stream(
                &js,
                stream::Config {
                    name: DEAD_STREAM.into(),
                    subjects: Queue::ALL
                        .iter()
                        .map(|q| q.max_deliveries_advisory())
                        .collect(),
                    retention: stream::RetentionPolicy::WorkQueue,
                    ..Default::default()
                },
                adjust,
            )
            .await?;
            for queue in Queue::ALL {
                ensure_consumer(
                    &js,
                    queue.stream(),
                    consumer::pull::Config {
                        durable_name: Some(WORKERS.into()),
                        ack_wait: opts.ack_wait,
                        max_deliver: opts.max_deliver,
                        ..Default::default()
                    },
                    adjust,
                )
                .await?;
            }
            for stream in [OUTCOMES_STREAM, DEAD_STREAM] {
                ensure_consumer(
                    &js,
                    stream,
                    consumer::pull::Config {
                        durable_name: Some(FRONTENDS.into()),
                        ack_wait: Duration::from_secs(60),
                        ..Default::default()
                    },
                    adjust,
                )
                .await?;
            }
            let sessions = key_value(&js, SESSIONS_BUCKET).await?;
            let cursors = key_value(&js, CURSORS_BUCKET).await?;
            let files = js
                .create_object_store(object_store::Config {
                    bucket: FILES_BUCKET.into(),
                    ..Default::default()
                })
                .await
                .map_err(op("creating the file store"))?;
            Ok::<_, ClusterError>((client, js, sessions, cursors, files))
        })?;
        Ok(Arc::new(Self {
            _runtime: OwnedRuntime(Some(runtime)),
            handle,
            client,
            jetstream,
            sessions,
            cursors,
            files,
            options,
        }))
    }

    /// Runs `f` on the connection's runtime and waits for it: for plain threads (never call it
    /// from a task of this runtime; hand such work to `spawn_blocking`).
    pub fn call<F>(&self, what: &'static str, f: F) -> Result<F::Output, ClusterError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(tokio::time::timeout(CALL_TIMEOUT, f).await);
        });
        match rx.recv() {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(_)) => Err(ClusterError::TimedOut {
                what,
                seconds: CALL_TIMEOUT.as_secs(),
            }),
            Err(_) => Err(ClusterError::Closed),
        }
    }

    /// Runs `f` on the connection's runtime in the background.
    pub fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(f)
    }

    /// The durable consumer `name` of `stream`.
    pub async fn consumer(
        &self,
        stream: &str,
        name: &str,
    ) -> Result<consumer::PullConsumer, ClusterError> {
        self.jetstream
            .get_stream(stream)
            .await
            .map_err(op("opening a stream"))?
            .get_consumer(name)
            .await
            .map_err(op("opening a consumer"))
    }
}

fn job_stream(queue: Queue, options: &Options) -> stream::Config {
    stream::Config {
        name: queue.stream().into(),
        subjects: vec![queue.subject().into()],
        retention: stream::RetentionPolicy::WorkQueue,
        duplicate_window: DUPLICATE_WINDOW,
        // A full render queue refuses the next job (the user is told); analyses are not bounded
        // here (each album is bounded by the album's own limits).
        max_messages: match queue {
            Queue::Renders => options.render_capacity as i64,
            Queue::Analyses => -1,
        },
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    }
}

/// Creates the stream, or takes the existing one (with this process's limits when `adjust`).
async fn ensure_stream(
    js: &jetstream::Context,
    config: stream::Config,
    adjust: bool,
) -> Result<(), ClusterError> {
    let mut existing = js
        .get_or_create_stream(config.clone())
        .await
        .map_err(op("creating a stream"))?;
    let info = existing
        .info()
        .await
        .map_err(op("reading a stream's settings"))?;
    if adjust && info.config.max_messages != config.max_messages {
        js.update_stream(config)
            .await
            .map_err(op("updating a stream's limits"))?;
    }
    Ok(())
}

/// Creates the durable consumer, or takes the existing one (with this process's limits when
/// `adjust`).
async fn ensure_consumer(
    js: &jetstream::Context,
    stream: &str,
    config: consumer::pull::Config,
    adjust: bool,
) -> Result<(), ClusterError> {
    let stream = js
        .get_stream(stream)
        .await
        .map_err(op("opening a stream"))?;
    let name = config.durable_name.clone().unwrap_or_default();
    let mut existing: consumer::PullConsumer = stream
        .get_or_create_consumer(&name, config.clone())
        .await
        .map_err(op("creating a consumer"))?;
    let info = existing
        .info()
        .await
        .map_err(op("reading a consumer's settings"))?;
    if adjust
        && (info.config.ack_wait != config.ack_wait
            || info.config.max_deliver != config.max_deliver)
    {
        // Creating a durable consumer again with new limits updates it on servers that allow
        // it; the others keep the earlier limits, which is said here.
        if let Err(e) = stream.create_consumer(config).await {
            tracing::warn!(error = %e, consumer = name, "the consumer keeps its earlier ack wait and max deliveries");
        }
    }
    Ok(())
}

/// A key-value bucket with one value per key. Its stream is made here with the bucket
/// conventions (the client's own bucket creation first asks for account fields that the NATS
/// 2.9 server of Debian stable does not send).
async fn key_value(js: &jetstream::Context, bucket: &str) -> Result<kv::Store, ClusterError> {
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .map_err(op("creating a key-value bucket"))?;
    js.get_key_value(bucket)
        .await
        .map_err(op("opening a key-value bucket"))
}
