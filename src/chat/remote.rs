//! Jobs on the cluster: what travels between the front-ends (`lifelapse serve` with a NATS URL)
//! and the workers (`lifelapse worker`), and the front-end's side of it: a session's analysis
//! or render published to its work-queue stream, and what comes back (outcomes, progress, jobs
//! given up) handed to the chat service.
//!
//! Jobs are delivered at least once (a worker that dies mid-job leaves it to another); what a
//! session sees happens once: a job is published under its id (session and job number), so a
//! second publication is dropped, and an outcome counts only while its job is the session's
//! newest and the session still waits for it, checked in the same revision-checked step that
//! applies it.

use super::conversation::{Conversation, JobKind, PhotoRef};
use super::jobs::{Outcome, RenderChoices};
use crate::cluster::{op, Cluster, ClusterError, Queue};
use crate::store::SessionKey;
use async_nats::jetstream::message::PublishMessage;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// A job for a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub session: SessionKey,
    /// The session's job number ([`Conversation::job`]) when it asked for this one.
    pub number: u64,
    pub work: Work,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Work {
    Analyze {
        photos: Vec<PhotoRef>,
    },
    Render {
        choices: RenderChoices,
        /// The largest video the session's chat accepts, in bytes.
        upload_limit: u64,
    },
}

impl Job {
    pub fn kind(&self) -> JobKind {
        match self.work {
            Work::Analyze { .. } => JobKind::Analysis,
            Work::Render { .. } => JobKind::Render,
        }
    }

    pub fn queue(&self) -> Queue {
        match self.kind() {
            JobKind::Analysis => Queue::Analyses,
            JobKind::Render => Queue::Renders,
        }
    }

    /// Its id: the same when a restarted front-end resumes the session's job.
    pub fn id(&self) -> String {
        format!("{}#{}", self.session.db_key(), self.number)
    }

    /// Whether the session still waits for this job.
    pub fn wanted_by(&self, conversation: &Conversation) -> bool {
        conversation.wants(self.kind(), self.number)
    }
}

/// A job's outcome, from its worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub job: Job,
    pub outcome: Outcome,
    /// The worker's time on the job.
    pub elapsed_ms: u64,
}

/// How far a render is, from its worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub job: Job,
    pub percent: u8,
}

/// What the cluster tells a front-end.
#[derive(Debug, Clone)]
pub enum Incoming {
    Done(Done),
    Progress(Progress),
    /// The job failed on every delivery (its workers died or hung): given up.
    GaveUp(Job),
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the render queue is full ({capacity} renders)")]
    Full { capacity: usize },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// A front-end's end of the job queues.
pub struct Remote {
    cluster: Arc<Cluster>,
}

impl Remote {
    pub fn new(cluster: Arc<Cluster>) -> Self {
        Self { cluster }
    }

    /// Publishes the job; returns how many jobs of its queue (waiting or running) are before it.
    pub fn submit(&self, job: &Job) -> Result<usize, SubmitError> {
        let payload = serde_json::to_vec(job).map_err(op("encoding a job"))?;
        let (js, queue, id) = (self.cluster.jetstream.clone(), job.queue(), job.id());
        let published = self.cluster.call("publishing a job", async move {
            let message = PublishMessage::build()
                .payload(payload.into())
                .message_id(id);
            js.send_publish(queue.subject(), message).await?.await
        })?;
        let queued = self.queued(queue)?;
        if let Err(e) = published {
            // A refused publication to a bounded queue at its bound: the queue is full.
            let capacity = self.cluster.options.render_capacity;
            if queue == Queue::Renders && queued >= capacity {
                return Err(SubmitError::Full { capacity });
            }
            return Err(op("publishing a job")(e).into());
        }
        Ok(queued.saturating_sub(1))
    }

    /// Jobs in `queue`, waiting or running.
    fn queued(&self, queue: Queue) -> Result<usize, ClusterError> {
        let js = self.cluster.jetstream.clone();
        self.cluster
            .call("reading a queue", async move {
                let mut stream = js.get_stream(queue.stream()).await?;
                Ok::<_, async_nats::Error>(stream.info().await?.state.messages as usize)
            })?
            .map_err(op("reading a queue"))
    }

    /// Renders waiting for a worker, and running on one.
    pub fn render_load(&self) -> Result<(usize, usize), ClusterError> {
        let cluster = self.cluster.clone();
        self.cluster.call("reading the render queue", async move {
            let mut consumer = cluster
                .consumer(Queue::Renders.stream(), crate::cluster::WORKERS)
                .await?;
            let info = consumer
                .info()
                .await
                .map_err(op("reading the render queue"))?;
            Ok((info.num_pending as usize, info.num_ack_pending))
        })?
    }

    /// Tells the workers to stop the session's running job.
    pub fn cancel(&self, key: &SessionKey) -> Result<(), ClusterError> {
        let payload = serde_json::to_vec(key).map_err(op("encoding a cancel"))?;
        let client = self.cluster.client.clone();
        self.cluster
            .call("publishing a cancel", async move {
                client
                    .publish(crate::cluster::CANCEL_SUBJECT, payload.into())
                    .await
            })?
            .map_err(op("publishing a cancel"))
    }

    /// Hands what the workers send to `handler` (on blocking threads: it may use the store),
    /// from now on, shared with the other front-ends: each outcome, progress report and given-up
    /// job reaches one front-end.
    pub fn listen(&self, handler: Arc<dyn Fn(Incoming) + Send + Sync>) {
        let h = handler.clone();
        self.cluster.spawn(consume(
            self.cluster.clone(),
            crate::cluster::OUTCOMES_STREAM,
            move |payload| {
                let h = h.clone();
                async move {
                    match serde_json::from_slice::<Done>(&payload) {
                        Ok(done) => hand_over(&h, Incoming::Done(done)).await,
                        Err(e) => tracing::warn!(error = %e, "an outcome cannot be read; dropped"),
                    }
                }
            },
        ));
        let (h, js) = (handler.clone(), self.cluster.jetstream.clone());
        self.cluster.spawn(consume(
            self.cluster.clone(),
            crate::cluster::DEAD_STREAM,
            move |payload| {
                let (h, js) = (h.clone(), js.clone());
                async move { given_up(&js, &h, &payload).await }
            },
        ));
        let client = self.cluster.client.clone();
        self.cluster.spawn(async move {
            let subscribed = client
                .queue_subscribe(
                    crate::cluster::PROGRESS_SUBJECT,
                    crate::cluster::FRONTENDS.into(),
                )
                .await;
            let mut progress = match subscribed {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "render progress cannot be followed");
                    return;
                }
            };
            while let Some(m) = progress.next().await {
                if let Ok(p) = serde_json::from_slice::<Progress>(&m.payload) {
                    hand_over(&handler, Incoming::Progress(p)).await;
                }
            }
        });
    }
}

/// Runs the handler where it may block (it writes the store through this same runtime).
async fn hand_over(handler: &Arc<dyn Fn(Incoming) + Send + Sync>, incoming: Incoming) {
    let h = handler.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || h(incoming)).await {
        tracing::error!(error = %e, "handling a job's message failed");
    }
}

/// Takes the messages of a stream's front-end consumer one at a time: handled, then acked (a
/// front-end that dies meanwhile leaves the message to another).
async fn consume<F, Fut>(cluster: Arc<Cluster>, stream: &'static str, handle: F)
where
    F: Fn(Vec<u8>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    loop {
        let messages = match cluster.consumer(stream, crate::cluster::FRONTENDS).await {
            Ok(c) => c.messages().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = e, stream, "cannot take messages; again in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(m) = messages.next().await {
            match m {
                Ok(m) => {
                    handle(m.payload.to_vec()).await;
                    if let Err(e) = m.ack().await {
                        tracing::warn!(error = %e, stream, "acknowledging a message failed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, stream, "taking a message failed"),
            }
        }
    }
}

/// JetStream's advisory for a job that reached its last delivery.
#[derive(Deserialize)]
struct MaxDeliveries {
    stream: String,
    stream_seq: u64,
}

/// A job given up: read from its queue by the advisory's sequence number, its user told, then
/// deleted from the queue (a work queue keeps what was never acknowledged).
async fn given_up(
    js: &async_nats::jetstream::Context,
    handler: &Arc<dyn Fn(Incoming) + Send + Sync>,
    advisory: &[u8],
) {
    let Ok(advisory) = serde_json::from_slice::<MaxDeliveries>(advisory) else {
        tracing::warn!("a max-deliveries advisory cannot be read; dropped");
        return;
    };
    let stream = match js.get_stream(&advisory.stream).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, stream = advisory.stream, "the given-up job's queue is gone");
            return;
        }
    };
    match stream.get_raw_message(advisory.stream_seq).await {
        Ok(m) => match serde_json::from_slice::<Job>(&m.payload) {
            Ok(job) => {
                tracing::warn!(job = job.id(), "job given up after its last delivery");
                hand_over(handler, Incoming::GaveUp(job)).await;
            }
            Err(e) => tracing::warn!(error = %e, "a given-up job cannot be read"),
        },
        Err(e) => tracing::warn!(error = %e, "a given-up job is gone"),
    }
    if let Err(e) = stream.delete_message(advisory.stream_seq).await {
        tracing::warn!(error = %e, "a given-up job stays in its queue");
    }
}
