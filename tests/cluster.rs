//! The cluster mode end to end: a real `nats-server -js` (started here on 127.0.0.1 with a
//! temporary store), the real `lifelapse serve` front-ends and `lifelapse worker` processes,
//! and the fake Telegram Bot API, with real photos from ../shared/testdata.
//! Needs the `nats-server` binary (`tools/setup.sh --test` installs it).

mod common;

use common::lifelapse;
use common::running::{http_get, Running};
use common::telegram::{album_to_review, is, LONG, OWNER, SHORT, TOKEN};
use lifelapse::cluster::{Cluster, Options, Queue, Role, FRONTENDS, OUTCOMES_STREAM};
use lifelapse_test_support::http::free_port;
use lifelapse_test_support::nats::NatsServer;
use lifelapse_test_support::telegram::{Call, FakeTelegram};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A group chat: a second session of the same user.
const GROUP: i64 = -100777;
/// Short, so that a killed worker's job moves on within seconds (a working worker says it is
/// alive every 1.7 s).
const ACK_WAIT_S: &str = "5";

struct Setup {
    nats: NatsServer,
    fake: FakeTelegram,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        Self {
            nats: NatsServer::start().unwrap_or_else(|e| panic!("{e}")),
            fake: FakeTelegram::start(TOKEN).unwrap(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A directory of its own for each process: nothing is shared but the NATS server.
    fn own_dir(&self, name: &str) -> PathBuf {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn cluster_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LIFELAPSE_CLUSTER_NATS_URL", self.nats.url()),
            ("LIFELAPSE_CLUSTER_ACK_WAIT_S", ACK_WAIT_S.into()),
            ("LIFELAPSE_CHAT_QUEUE_CAPACITY", "1".into()),
        ]
    }

    fn front_end(&self, name: &str) -> Running {
        let running = Running::serve_with(&self.fake, &self.own_dir(name), &self.cluster_env());
        running.wait_for_stderr("sessions and jobs on the cluster", SHORT);
        running
    }

    fn worker(&self, name: &str) -> Running {
        let dir = self.own_dir(name);
        let mut command = lifelapse(&dir);
        command
            .arg("worker")
            .env("LIFELAPSE_DATA_DIR", dir.join("data"));
        for (k, v) in self.cluster_env() {
            command.env(k, v);
        }
        let running = Running::spawn(command);
        running.wait_for_stderr("worker: taking jobs", SHORT);
        running
    }

    /// The test's own connection, to see the queues.
    fn connect(&self) -> std::sync::Arc<Cluster> {
        Cluster::connect(
            Options {
                url: self.nats.url(),
                ack_wait: Duration::from_secs(5),
                max_deliver: 3,
                render_capacity: 1,
            },
            Role::Worker,
        )
        .unwrap()
    }
}

/// Waits until one of `workers` has started a render; which one.
fn rendering_worker(workers: &[Running]) -> usize {
    let deadline = Instant::now() + LONG;
    loop {
        if let Some(i) = workers
            .iter()
            .position(|w| w.stderr().contains("kind=Render"))
        {
            return i;
        }
        assert!(Instant::now() < deadline, "no worker started the render");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn videos(fake: &FakeTelegram, chat: i64) -> usize {
    fake.calls()
        .iter()
        .filter(|c| c.method == "sendanimation" && c.chat() == Some(chat))
        .count()
}

fn render(fake: &FakeTelegram, chat: i64, review: &Call, frames: u32) -> usize {
    let id = review.message_id.unwrap();
    fake.press(chat, OWNER, id, &format!("{OWNER}|set:frames={frames}"));
    let before = fake.calls().len();
    fake.press(chat, OWNER, id, &format!("{OWNER}|render"));
    before
}

/// Waits until every job and outcome has been taken and acknowledged: after this, nothing
/// more can arrive.
fn wait_until_drained(cluster: &Cluster) {
    let deadline = Instant::now() + LONG;
    loop {
        let js = cluster.jetstream.clone();
        let left = cluster
            .call("test", async move {
                let mut left = 0;
                for stream in [Queue::Analyses.stream(), Queue::Renders.stream()] {
                    left += js.get_stream(stream).await?.info().await?.state.messages;
                }
                let mut outcomes = js
                    .get_stream(OUTCOMES_STREAM)
                    .await?
                    .get_consumer::<async_nats::jetstream::consumer::pull::Config>(FRONTENDS)
                    .await?;
                let info = outcomes.info().await?;
                Ok::<_, async_nats::Error>(left + info.num_pending + info.num_ack_pending as u64)
            })
            .unwrap()
            .unwrap();
        if left == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{left} jobs or outcomes left");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn one_front_end_and_two_workers_render_and_a_full_queue_is_told() {
    let setup = Setup::new();
    let fake = &setup.fake;
    let _front = setup.front_end("front");
    let workers = [setup.worker("worker-1"), setup.worker("worker-2")];

    // Two sessions, analysed by the workers.
    let (_, review) = album_to_review(fake, OWNER);
    assert!(review.text().contains('#'), "{}", review.text());
    let (_, group_review) = album_to_review(fake, GROUP);
    let analysed: usize = workers
        .iter()
        .map(|w| w.stderr().matches("kind=Analysis").count())
        .sum();
    assert!(analysed >= 2, "the analyses ran on the workers");

    // The first render fills the queue (capacity 1); the second session is told.
    let before = render(fake, OWNER, &review, 24);
    fake.wait_for(before, LONG, "the render's progress", |c| {
        c.chat() == Some(OWNER) && c.text().starts_with("Rendering")
    });
    let before_refusal = render(fake, GROUP, &group_review, 6);
    let (_, refused) = fake.wait_for(before_refusal, SHORT, "the full queue", |c| {
        c.chat() == Some(GROUP) && c.text().contains("Too many videos are waiting")
    });
    assert!(refused.text().contains("(1)"), "{}", refused.text());

    let (_, video) = fake.wait_for(before, LONG, "the video", |c| {
        c.method == "sendanimation" && c.chat() == Some(OWNER)
    });
    let (name, bytes) = video.file.expect("video");
    assert_eq!(name, "timelapse.mp4");
    assert_eq!(&bytes[4..8], b"ftyp", "an MP4");

    // The queue has room again: the second session's render goes through.
    let before = render(fake, GROUP, &group_review, 6);
    fake.wait_for(before, LONG, "the second session's video", |c| {
        c.method == "sendanimation" && c.chat() == Some(GROUP)
    });
    wait_until_drained(&setup.connect());
    assert_eq!(videos(fake, OWNER), 1);
    assert_eq!(videos(fake, GROUP), 1);
}

#[test]
fn a_worker_killed_mid_render_leaves_the_job_to_the_other_and_one_video_arrives() {
    let setup = Setup::new();
    let fake = &setup.fake;
    let _front = setup.front_end("front");
    let mut workers = [setup.worker("worker-1"), setup.worker("worker-2")];
    let (_, review) = album_to_review(fake, OWNER);

    let before = render(fake, OWNER, &review, 24);
    // kill -9 the worker that renders.
    let rendering = rendering_worker(&workers);
    workers[rendering].kill();
    assert_eq!(
        videos(fake, OWNER),
        0,
        "the render finished before the kill"
    );
    let other = &workers[1 - rendering];

    let (_, video) = fake.wait_for(before, LONG, "the video from the other worker", |c| {
        c.method == "sendanimation"
    });
    assert!(video.file.is_some());
    assert!(
        other.stderr().contains("delivery=2"),
        "the other worker took the job again: {}",
        other.stderr()
    );
    wait_until_drained(&setup.connect());
    assert_eq!(videos(fake, OWNER), 1, "exactly one video");
    // The session goes on: the review is back for another render.
    let at = fake.calls().len();
    fake.send_text(OWNER, OWNER, "#1 4");
    let (_, fixed) = fake.wait_for(at, SHORT, "the review after an age fix", |c| {
        c.method == "sendphoto" || c.method == "editmessagecaption"
    });
    assert!(fixed.text().contains("Ages: #1 4,"), "{}", fixed.text());
}

#[test]
fn a_new_front_end_continues_a_killed_ones_sessions_from_the_cluster() {
    let setup = Setup::new();
    let fake = &setup.fake;
    let mut first = setup.front_end("front-1");
    let _worker = setup.worker("worker");
    let (_, review) = album_to_review(fake, OWNER);
    first.kill();

    // Another front-end with an empty data directory of its own: everything comes from NATS.
    let second = setup.front_end("front-2");
    assert!(!Path::new(&setup.dir.path().join("front-2/data/sessions.sled")).exists());
    let before = render(fake, OWNER, &review, 6);
    let (_, video) = fake.wait_for(before, LONG, "the video", is("sendanimation"));
    assert!(video.file.is_some());
    // Updates the first one handled were not handled again (one album reply in all).
    let album_replies = fake
        .calls()
        .iter()
        .filter(|c| c.text().contains("5 photos"))
        .count();
    assert_eq!(album_replies, 1, "{}", second.stderr());

    // /forget deletes the photos, the contact sheet and the video from the object store.
    let cluster = setup.connect();
    assert!(stored_objects(&cluster) >= 7, "5 photos, a sheet, a video");
    let at = fake.calls().len();
    fake.send_text(OWNER, OWNER, "/forget");
    fake.wait_for(at, SHORT, "the forget reply", |c| {
        c.text()
            .contains("your photos, faces and videos are deleted")
    });
    assert_eq!(stored_objects(&cluster), 0);
}

/// Objects in the cluster's file store (not counting deleted ones).
fn stored_objects(cluster: &Cluster) -> usize {
    let files = cluster.files.clone();
    cluster
        .call("test", async move {
            use futures_util::StreamExt;
            let mut list = files.list().await.unwrap();
            let mut n = 0;
            while let Some(info) = list.next().await {
                n += usize::from(!info.unwrap().deleted);
            }
            n
        })
        .unwrap()
}

#[test]
fn a_job_whose_workers_all_die_is_given_up_and_its_user_told() {
    let setup = Setup::new();
    let fake = &setup.fake;
    let mut env = setup.cluster_env();
    // One delivery: the first worker's death gives the job up.
    env.push(("LIFELAPSE_CLUSTER_MAX_DELIVER", "1".into()));
    let front = Running::serve_with(fake, &setup.own_dir("front"), &env);
    front.wait_for_stderr("sessions and jobs on the cluster", SHORT);
    let mut worker = setup.worker("worker-1");
    let (_, review) = album_to_review(fake, OWNER);

    let before = render(fake, OWNER, &review, 24);
    worker.wait_for_stderr("kind=Render", LONG);
    worker.kill();
    // The server gives a job up when a worker next asks for work.
    let _worker = setup.worker("worker-2");
    let (_, failed) = fake
        .try_wait_for(before, LONG, |c| c.text().contains("The render failed"))
        .unwrap_or_else(|seen| panic!("no failure told: {seen:?}\n{}", front.stderr()));
    assert_eq!(failed.chat(), Some(OWNER));
    assert!(front.stderr().contains("given up"), "{}", front.stderr());

    // The session is back at its review, and the job left the queue: the next render runs.
    let before = render(fake, OWNER, &review, 6);
    fake.wait_for(before, LONG, "the video", is("sendanimation"));
    wait_until_drained(&setup.connect());
    assert_eq!(videos(fake, OWNER), 1);
}

#[test]
fn two_front_ends_behind_one_webhook_url_share_every_session() {
    let setup = Setup::new();
    let fake = &setup.fake;
    let listens: Vec<String> = (0..2)
        .map(|_| format!("127.0.0.1:{}", free_port().unwrap()))
        .collect();
    let fronts: Vec<Running> = listens
        .iter()
        .enumerate()
        .map(|(i, listen)| {
            let mut env = setup.cluster_env();
            env.push((
                "LIFELAPSE_TELEGRAM_WEBHOOK_URL",
                "https://bot.example/hook".into(),
            ));
            env.push(("LIFELAPSE_TELEGRAM_WEBHOOK_LISTEN", listen.clone()));
            let front = Running::serve_with(fake, &setup.own_dir(&format!("front-{i}")), &env);
            front.wait_for_stderr("sessions and jobs on the cluster", SHORT);
            front
        })
        .collect();
    let (at, first) = fake.wait_for(0, SHORT, "a setWebhook", is("setwebhook"));
    fake.wait_for(at + 1, SHORT, "the second setWebhook", is("setwebhook"));
    let secret = first.params["secret_token"].as_str().unwrap().to_string();
    // Telegram's load balancer: every update to the next front-end in turn.
    fake.forward_to_webhooks(listens, secret);
    let _worker = setup.worker("worker");

    // The album's photos arrive at both front-ends at once: none is lost, and the album is
    // answered once.
    let (_, review) = album_to_review(fake, OWNER);
    let before = render(fake, OWNER, &review, 6);
    fake.wait_for(before, LONG, "the video", is("sendanimation"));
    wait_until_drained(&setup.connect());
    assert_eq!(videos(fake, OWNER), 1);
    for front in &fronts {
        let metrics = http_get(&front.metrics_addr(), "/metrics");
        let events: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("lifelapse_chat_events_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        assert!(events > 0, "each front-end handled updates: {metrics}");
    }
}
