//! `lifelapse bench cluster`: the cluster mode on this machine. A real `nats-server -js` in a
//! temporary store, a front-end in this process on the Bot API stand-in, and `lifelapse worker`
//! processes (this same binary): renders a minute for four chats pressing Render together with
//! one worker and with two, and the queue's own cost per job (Render pressed → video in the
//! chat, less the worker's time on it, over renders one after another).

use super::chat::{album, album_to_review, bot_config, per_minute, render_round, Bot};
use super::BenchError;
use crate::chat::conversation::Conversation;
use crate::chat::remote::Remote;
use crate::cluster::{Cluster, Options, Role};
use crate::store::nats::NatsStore;
use crate::store::SessionStore;
use lifelapse_test_support::nats::NatsServer;
use serde::Serialize;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct ClusterBench {
    pub device: String,
    pub chats: usize,
    pub render_size: u32,
    /// Four chats pressing Render together, with 1 and then 2 workers.
    pub rounds: Vec<ClusterRound>,
    /// Renders one after another, each timed from Render to the video.
    pub overhead_renders: usize,
    /// Their mean time from Render to the video, less the worker's mean time on the job.
    pub queue_overhead_ms: f64,
    pub render_ms_on_worker: f64,
}

#[derive(Debug, Serialize)]
pub struct ClusterRound {
    pub workers: usize,
    pub renders_wall_ms: u64,
    pub renders_per_minute: f64,
}

/// A `lifelapse worker` process; killed when dropped.
struct WorkerProcess(Child);

impl WorkerProcess {
    /// Starts one and waits until it takes jobs.
    fn start(url: &str, dir: &Path, device: &str) -> Result<Self, BenchError> {
        let exe = std::env::current_exe().map_err(BenchError::setup)?;
        let mut child = Command::new(exe)
            .arg("worker")
            .env("LIFELAPSE_CLUSTER_NATS_URL", url)
            .env("LIFELAPSE_DATA_DIR", dir)
            .env("LIFELAPSE_GENERAL_DEVICE", device)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(BenchError::setup)?;
        let stderr = child.stderr.take();
        let worker = Self(child);
        let ready = stderr.is_some_and(|pipe| {
            let mut lines = BufReader::new(pipe).lines().map_while(Result::ok);
            let ready = lines.any(|l| l.contains("worker: taking jobs"));
            // Keep draining, so the worker never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            ready
        });
        if !ready {
            return Err(BenchError::Input("a worker did not start".into()));
        }
        Ok(worker)
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(samples: &Path, device: tch::Device) -> Result<ClusterBench, BenchError> {
    let nats = NatsServer::start().map_err(BenchError::Input)?;
    let dir = tempfile::tempdir().map_err(BenchError::setup)?;
    let mut config = bot_config(&dir.path().join("front"), device);
    config.cluster.nats_url = nats.url();
    let options =
        Options::from_config(&config).ok_or_else(|| BenchError::Input("no NATS URL".into()))?;
    let cluster = Cluster::connect(options, Role::FrontEnd).map_err(BenchError::setup)?;
    let store: Arc<dyn SessionStore<Conversation>> = Arc::new(NatsStore::new(cluster.clone()));
    let bot = Bot::start(&config, store, Some(Remote::new(cluster)))?;
    let worker = |n: usize| {
        WorkerProcess::start(
            &nats.url(),
            &dir.path().join(format!("worker-{n}")),
            &config.general.device,
        )
    };
    let result = (|| {
        let (fake, service) = (&bot.fake, &bot.service);
        let mut workers = vec![worker(1)?];
        let chats: Vec<i64> = (2001..2005).collect();
        let photos = album(samples, 6)?;
        for &chat in &chats {
            album_to_review(fake, chat, &photos)?;
        }

        // One render at a time: what the queue adds to each.
        const OVERHEAD_RENDERS: usize = 3;
        let worker_ms = || service.metrics.render_ms.load(Ordering::Relaxed);
        render_round(fake, &chats[..1], &[])?; // warms the worker's engine and caches
        let (before, mut wall) = (worker_ms(), Duration::ZERO);
        for _ in 0..OVERHEAD_RENDERS {
            wall += render_round(fake, &chats[..1], &[])?;
        }
        let on_worker = (worker_ms() - before) as f64 / OVERHEAD_RENDERS as f64;
        let per_render = wall.as_secs_f64() * 1000.0 / OVERHEAD_RENDERS as f64;

        let mut rounds = Vec::new();
        for n in 1..=2 {
            if workers.len() < n {
                workers.push(worker(n)?);
                // Each worker analyses a session it has not seen before its first render of
                // it: a round first, so both measured rounds find their caches warm.
                render_round(fake, &chats, &[])?;
            }
            let wall = render_round(fake, &chats, &[])?;
            rounds.push(ClusterRound {
                workers: n,
                renders_wall_ms: wall.as_millis() as u64,
                renders_per_minute: per_minute(chats.len(), wall),
            });
        }
        Ok(ClusterBench {
            device: config.general.device.clone(),
            chats: chats.len(),
            render_size: crate::chat::conversation::ChatSettings::default().size,
            rounds,
            overhead_renders: OVERHEAD_RENDERS,
            queue_overhead_ms: per_render - on_worker,
            render_ms_on_worker: on_worker,
        })
    })();
    bot.stop();
    result
}
