//! The chat service the platform adapters share: it keeps every conversation in the store,
//! carries out the actions that are work (album debounce, name search, analysis, render,
//! cancelling, forgetting) on its own threads, and hands the actions that are messages to the
//! adapter of the session's platform. Adapters only translate; nothing here knows a platform.
//!
//! Threads, not async: the face networks and the renderers are synchronous and CPU-heavy, so
//! they run on plain threads (one analysis lane, `render_workers` render lanes) and never on
//! an async runtime's workers. Adapters receive their messages on a channel they can await.
//!
//! With a cluster ([`Remote`]), analyses and renders are published for the workers instead of
//! run here, and their outcomes come back to whichever front-end takes them.

use super::conversation::JobKind;
use super::conversation::{Action, Conversation, Event, PhotoRef};
use super::jobs::{self, Outcome};
use super::lock;
use super::queue::{Position, QueueError, RenderQueue};
use super::remote::{self, Incoming, Remote, SubmitError};
use crate::config::Config;
use crate::leaves::cancel::CancelToken;
use crate::store::{SessionKey, SessionStore, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// Messages for one session, for its platform's adapter to send, in order.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub key: SessionKey,
    pub locale: String,
    pub actions: Vec<Action>,
}

/// What a platform told the service when it connected.
struct Platform {
    outbox: UnboundedSender<Outgoing>,
    /// Largest file the platform accepts from the bot, in bytes.
    upload_limit: u64,
}

/// A render waiting or running.
struct RenderJob {
    id: u64,
    keep: Vec<usize>,
    ages: BTreeMap<usize, f64>,
    settings: super::conversation::ChatSettings,
    cancel: CancelToken,
}

struct Renders {
    queue: RenderQueue<SessionKey>,
    jobs: HashMap<SessionKey, RenderJob>,
    stopping: bool,
}

enum Lane {
    Analyze {
        key: SessionKey,
        photos: Vec<PhotoRef>,
        epoch: u64,
    },
    Stop,
}

/// Counters and gauges for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub events: AtomicU64,
    pub analyses: AtomicU64,
    pub analysis_failures: AtomicU64,
    pub analysis_ms: AtomicU64,
    pub renders: AtomicU64,
    pub render_failures: AtomicU64,
    pub render_ms: AtomicU64,
    pub renders_refused: AtomicU64,
    pub sessions_forgotten: AtomicU64,
    pub sessions_expired: AtomicU64,
}

pub struct Service {
    store: Arc<dyn SessionStore<Conversation>>,
    config: Config,
    platforms: Mutex<HashMap<String, Platform>>,
    renders: Mutex<Renders>,
    renders_changed: Condvar,
    lane: Mutex<mpsc::Sender<Lane>>,
    next_job: AtomicU64,
    /// Bumped when a session cancels or forgets: analyses started before are not wanted.
    epochs: Mutex<HashMap<SessionKey, u64>>,
    /// The face networks, the sessions' analyses and the generative engine the lanes share.
    workbench: jobs::Workbench,
    /// Upload limits a platform gave for one session (Discord's differ by server).
    upload_limits: Mutex<HashMap<SessionKey, u64>>,
    /// The cluster's job queues, when jobs run on workers rather than in this process.
    remote: Option<Remote>,
    pub metrics: Metrics,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Service {
    /// Starts the service's threads over `store`; analyses and renders run in this process.
    pub fn start(config: Config, store: Arc<dyn SessionStore<Conversation>>) -> Arc<Self> {
        Self::start_with(config, store, None)
    }

    /// Starts the service over `store`; with `remote`, analyses and renders run on the
    /// cluster's workers and this process only talks.
    pub fn start_with(
        config: Config,
        store: Arc<dyn SessionStore<Conversation>>,
        remote: Option<Remote>,
    ) -> Arc<Self> {
        let (lane_tx, lane_rx) = mpsc::channel();
        let service = Arc::new(Self {
            store,
            renders: Mutex::new(Renders {
                queue: RenderQueue::new(config.chat.queue_capacity, config.chat.render_workers),
                jobs: HashMap::new(),
                stopping: false,
            }),
            platforms: Mutex::new(HashMap::new()),
            renders_changed: Condvar::new(),
            lane: Mutex::new(lane_tx),
            next_job: AtomicU64::new(1),
            epochs: Mutex::new(HashMap::new()),
            workbench: jobs::Workbench::new(config.clone()),
            config,
            upload_limits: Mutex::new(HashMap::new()),
            remote,
            metrics: Metrics::default(),
            threads: Mutex::new(Vec::new()),
        });
        let mut threads = Vec::new();
        if let Some(remote) = &service.remote {
            let weak = Arc::downgrade(&service);
            remote.listen(Arc::new(move |incoming| {
                if let Some(s) = weak.upgrade() {
                    s.receive(incoming);
                }
            }));
            let weak = Arc::downgrade(&service);
            std::thread::spawn(move || sweeper(weak));
            return service;
        }
        let s = service.clone();
        threads.push(std::thread::spawn(move || s.analysis_lane(lane_rx)));
        for _ in 0..service.config.chat.render_workers {
            let s = service.clone();
            threads.push(std::thread::spawn(move || s.render_lane()));
        }
        if service.config.render.load_generative_at_start {
            let s = service.clone();
            threads.push(std::thread::spawn(move || s.load_generative()));
        }
        let weak = Arc::downgrade(&service);
        std::thread::spawn(move || sweeper(weak));
        *lock(&service.threads) = threads;
        service
    }

    pub fn store(&self) -> &dyn SessionStore<Conversation> {
        &*self.store
    }

    /// Registers a platform's adapter and resumes that platform's interrupted sessions (their
    /// messages come on the returned channel).
    pub fn connect(
        self: &Arc<Self>,
        platform: &str,
        upload_limit: u64,
    ) -> Result<UnboundedReceiver<Outgoing>, StoreError> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        lock(&self.platforms).insert(
            platform.to_string(),
            Platform {
                outbox: tx,
                upload_limit,
            },
        );
        let mut resumed = Vec::new();
        for key in self.store.sessions()? {
            if key.platform != platform {
                continue;
            }
            match self.store.load(&key) {
                Ok(Some(c)) => resumed.push((key, c)),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "a stored session cannot be read; skipped"),
            }
        }
        // Renders in the order they were asked for, as far as the store knows.
        for (key, conversation) in resumed {
            let actions = conversation.resume();
            if !actions.is_empty() {
                tracing::info!(session = %key.db_key(), "resuming interrupted work");
                let rest = self.carry_out(&key, &conversation, actions);
                self.send(&key, &conversation.locale, rest);
            }
        }
        Ok(rx)
    }

    /// The largest video this session's chat accepts now, when the platform says so per chat.
    pub fn set_upload_limit(&self, key: &SessionKey, bytes: u64) {
        lock(&self.upload_limits).insert(key.clone(), bytes);
    }

    /// A stored file (photo, contact sheet, video) by its hash; a missing or unreadable one is
    /// logged and None.
    pub fn stored(&self, hash: &str) -> Option<Vec<u8>> {
        match self.store.get_file(hash) {
            Ok(Some(b)) => Some(b),
            other => {
                tracing::error!(?other, "a stored file is missing");
                None
            }
        }
    }

    /// The conversation of `key`, for adapters that show its state (buttons, captions).
    pub fn conversation(&self, key: &SessionKey) -> Result<Option<Conversation>, StoreError> {
        self.store.load(key)
    }

    /// Handles a user's event; returns the messages to send in reply (the adapter sends them in
    /// the context of the update, e.g. answering a button press). `language` is the platform's
    /// language tag of the user, kept for messages that follow later.
    pub fn handle(
        self: &Arc<Self>,
        key: &SessionKey,
        locale: Option<&str>,
        event: Event,
    ) -> Result<(String, Vec<Action>), StoreError> {
        self.metrics.events.fetch_add(1, Ordering::Relaxed);
        let (conversation, actions) = self.transition(key, event, locale, &|_| true)?;
        let rest = self.carry_out(key, &conversation, actions.unwrap_or_default());
        Ok((conversation.locale, rest))
    }

    /// The session's conversation handles `event` in one store step, when `wanted` says so of
    /// the stored conversation (else nothing changes and no action follows).
    fn transition(
        &self,
        key: &SessionKey,
        event: Event,
        locale: Option<&str>,
        wanted: &dyn Fn(&Conversation) -> bool,
    ) -> Result<(Conversation, Option<Vec<Action>>), StoreError> {
        let mut actions = None;
        let conversation = self.store.update(key, &mut |conversation| {
            // Runs again when another front-end changed the session meanwhile.
            actions = None;
            if !wanted(conversation) {
                return;
            }
            if let Some(locale) = locale {
                conversation.locale = locale.to_string();
            }
            actions = Some(conversation.handle(event.clone()));
        })?;
        Ok((conversation, actions))
    }

    /// [`Service::handle`] for async adapters: run off the async workers (it writes the store),
    /// failures logged. None when the event could not be handled.
    pub async fn handle_async(
        self: &Arc<Self>,
        key: &SessionKey,
        locale: Option<String>,
        event: Event,
    ) -> Option<(String, Vec<Action>)> {
        let (service, key2) = (self.clone(), key.clone());
        match tokio::task::spawn_blocking(move || service.handle(&key2, locale.as_deref(), event))
            .await
        {
            Ok(Ok(r)) => Some(r),
            other => {
                tracing::error!(session = %key.db_key(), ?other, "handling an event failed");
                None
            }
        }
    }

    /// An event from a job: handled like a user's, its messages sent to the platform.
    fn dispatch(self: &Arc<Self>, key: &SessionKey, event: Event) {
        match self.handle(key, None, event) {
            Ok((locale, actions)) => self.send(key, &locale, actions),
            Err(e) => tracing::error!(error = %e, session = %key.db_key(), "session store failed"),
        }
    }

    fn send(&self, key: &SessionKey, locale: &str, actions: Vec<Action>) {
        if actions.is_empty() {
            return;
        }
        let platforms = lock(&self.platforms);
        let Some(p) = platforms.get(&key.platform) else {
            tracing::warn!(platform = key.platform, "no adapter for this platform");
            return;
        };
        let _ = p.outbox.send(Outgoing {
            key: key.clone(),
            locale: locale.to_string(),
            actions,
        });
    }

    /// The session's locale, for messages a job sends on its own (English when unknown).
    fn locale_of(&self, key: &SessionKey) -> String {
        self.store
            .load(key)
            .ok()
            .flatten()
            .map_or_else(|| "en".to_string(), |c| c.locale)
    }

    fn epoch(&self, key: &SessionKey) -> u64 {
        lock(&self.epochs).get(key).copied().unwrap_or(0)
    }

    /// Carries out the actions that are work; returns the ones that are messages, in order.
    fn carry_out(
        self: &Arc<Self>,
        key: &SessionKey,
        conversation: &Conversation,
        actions: Vec<Action>,
    ) -> Vec<Action> {
        let mut messages = Vec::new();
        for action in actions {
            match action {
                Action::StartTimer { album, after_ms } => {
                    let (s, key) = (self.clone(), key.clone());
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(after_ms));
                        s.dispatch(&key, Event::AlbumSettled { album });
                    });
                }
                Action::Analyze { photos } => match &self.remote {
                    Some(remote) => {
                        let job = remote::Job {
                            session: key.clone(),
                            number: conversation.job,
                            work: remote::Work::Analyze { photos },
                        };
                        if let Err(e) = remote.submit(&job) {
                            self.refuse(key, &job, e);
                        }
                    }
                    None => {
                        let epoch = self.epoch(key);
                        let _ = lock(&self.lane).send(Lane::Analyze {
                            key: key.clone(),
                            photos,
                            epoch,
                        });
                    }
                },
                Action::Crawl { name } => {
                    let (s, key) = (self.clone(), key.clone());
                    std::thread::spawn(move || {
                        let options = crate::crawl::CrawlOptions::from_config(
                            &s.config,
                            &crate::config::Secrets::from_env(),
                        );
                        let event = jobs::crawl_for_session(&*s.store, &key, &name, &options);
                        s.dispatch(&key, event);
                    });
                }
                Action::Render {
                    faces,
                    ages,
                    settings,
                } => match &self.remote {
                    Some(remote) => {
                        let job = remote::Job {
                            session: key.clone(),
                            number: conversation.job,
                            work: remote::Work::Render {
                                choices: jobs::RenderChoices {
                                    keep: faces,
                                    ages,
                                    settings,
                                },
                                upload_limit: self.upload_limit(key),
                            },
                        };
                        match remote.submit(&job) {
                            Ok(0) => {}
                            Ok(ahead) => messages.push(Action::Queued { ahead }),
                            Err(e) => self.refuse(key, &job, e),
                        }
                    }
                    None => {
                        if let Some(queued) = self.enqueue_render(key, faces, ages, settings) {
                            messages.push(queued);
                        }
                    }
                },
                Action::CancelJob => self.cancel(key),
                Action::DeleteData => {
                    self.cancel(key);
                    self.workbench.forget(key);
                    match self.store.forget(key) {
                        Ok(()) => {
                            self.metrics
                                .sessions_forgotten
                                .fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => tracing::error!(error = %e, "forgetting a session failed"),
                    }
                    // The conversation itself starts afresh (keeping only the locale).
                    let fresh = Conversation {
                        locale: conversation.locale.clone(),
                        ..Conversation::default()
                    };
                    if let Err(e) = self.store.save(key, &fresh) {
                        tracing::error!(error = %e, "saving the forgotten session failed");
                    }
                }
                other => messages.push(other),
            }
        }
        messages
    }

    /// A job the cluster did not take: a full render queue is told as such, anything else as
    /// the job's failure. After the event's own save, so the answer lands on the waiting state.
    fn refuse(self: &Arc<Self>, key: &SessionKey, job: &remote::Job, error: SubmitError) {
        let event = match error {
            SubmitError::Full { capacity } => {
                self.metrics.renders_refused.fetch_add(1, Ordering::Relaxed);
                Event::RenderRefused { waiting: capacity }
            }
            SubmitError::Cluster(e) => {
                Outcome::failed(job.kind(), &jobs::JobError::Cluster(e)).event
            }
        };
        let (s, key) = (self.clone(), key.clone());
        std::thread::spawn(move || s.dispatch(&key, event));
    }

    /// What a worker sent: an outcome or progress counts only while the session still waits
    /// for its job (checked in the same store step that applies it).
    fn receive(&self, incoming: Incoming) {
        let (job, outcome) = match incoming {
            Incoming::Done(done) => {
                let time = match done.job.kind() {
                    JobKind::Analysis => &self.metrics.analysis_ms,
                    JobKind::Render => &self.metrics.render_ms,
                };
                time.fetch_add(done.elapsed_ms, Ordering::Relaxed);
                (done.job, done.outcome)
            }
            Incoming::Progress(p) => (
                p.job,
                Outcome {
                    replies: Vec::new(),
                    event: Event::RenderProgress { percent: p.percent },
                },
            ),
            Incoming::GaveUp(job) => {
                let kind = job.kind();
                let error = jobs::JobError::GaveUp(job.id());
                (job, Outcome::failed(kind, &error))
            }
        };
        let kind = job.kind();
        let event = outcome.event.clone();
        if self.deliver(&job.session, outcome, &|c| job.wanted_by(c)) {
            self.count(kind, &event);
        }
    }

    /// An outcome's messages and its event's answer, sent in that order, when `wanted`;
    /// says whether it was.
    fn deliver(
        &self,
        key: &SessionKey,
        outcome: Outcome,
        wanted: &dyn Fn(&Conversation) -> bool,
    ) -> bool {
        match self.transition(key, outcome.event, None, wanted) {
            Ok((conversation, Some(actions))) => {
                let mut all = outcome.replies;
                all.extend(actions);
                self.send(key, &conversation.locale, all);
                true
            }
            Ok((_, None)) => {
                tracing::info!(session = %key.db_key(), "a job's outcome is no longer wanted");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, session = %key.db_key(), "session store failed");
                false
            }
        }
    }

    /// Counts a finished job for `/metrics`.
    fn count(&self, kind: JobKind, event: &Event) {
        let m = &self.metrics;
        let counter = match (kind, event) {
            (JobKind::Analysis, Event::Analyzed { .. }) => &m.analyses,
            (JobKind::Analysis, Event::AnalysisFailed { .. }) => &m.analysis_failures,
            (JobKind::Render, Event::Rendered { .. }) => &m.renders,
            (JobKind::Render, Event::RenderFailed { .. }) => &m.render_failures,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The largest video this session's chat accepts.
    fn upload_limit(&self, key: &SessionKey) -> u64 {
        match lock(&self.upload_limits).get(key) {
            Some(&limit) => limit,
            None => lock(&self.platforms)
                .get(&key.platform)
                .map_or(u64::MAX, |p| p.upload_limit),
        }
    }

    /// Stops the session's analysis (its result will be dropped) and render.
    fn cancel(&self, key: &SessionKey) {
        if let Some(remote) = &self.remote {
            if let Err(e) = remote.cancel(key) {
                tracing::warn!(error = %e, "the cancel did not reach the workers; the job's outcome will be ignored");
            }
        }
        *lock(&self.epochs).entry(key.clone()).or_insert(0) += 1;
        let mut renders = lock(&self.renders);
        if let Some(job) = renders.jobs.remove(key) {
            job.cancel.cancel();
        }
        // A waiting render leaves the queue; a running one stops at its next frame and its
        // lane takes it out.
        if matches!(renders.queue.position(key), Some(Position::Waiting(_))) {
            renders.queue.remove(key);
        }
        drop(renders);
        self.renders_changed.notify_all();
    }

    /// Queues a render; returns the "queued" message (None when it starts at once). A full
    /// queue answers the conversation with [`Event::RenderRefused`].
    fn enqueue_render(
        self: &Arc<Self>,
        key: &SessionKey,
        keep: Vec<usize>,
        ages: BTreeMap<usize, f64>,
        settings: super::conversation::ChatSettings,
    ) -> Option<Action> {
        let mut renders = lock(&self.renders);
        let job = RenderJob {
            id: self.next_job.fetch_add(1, Ordering::Relaxed),
            keep,
            ages,
            settings,
            cancel: CancelToken::default(),
        };
        match renders.queue.push(key.clone()) {
            Ok(position) => {
                renders.jobs.insert(key.clone(), job);
                drop(renders);
                self.renders_changed.notify_all();
                match position {
                    Position::Waiting(ahead) => Some(Action::Queued { ahead }),
                    Position::Running => None,
                }
            }
            Err(QueueError::AlreadyQueued) => {
                // The session's cancelled render is still stopping: this one follows it (its
                // lane queues it when the old one is out).
                renders.jobs.insert(key.clone(), job);
                Some(Action::Queued { ahead: 0 })
            }
            Err(QueueError::Full { capacity }) => {
                drop(renders);
                self.metrics.renders_refused.fetch_add(1, Ordering::Relaxed);
                let (s, key) = (self.clone(), key.clone());
                // After this event's own save, so the refusal lands on the rendering state.
                std::thread::spawn(move || {
                    s.dispatch(&key, Event::RenderRefused { waiting: capacity })
                });
                None
            }
        }
    }

    /// Renders waiting now, and running (over the whole cluster, when there is one).
    pub fn render_load(&self) -> (usize, usize) {
        if let Some(remote) = &self.remote {
            return remote.render_load().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the render queue cannot be read");
                (0, 0)
            });
        }
        let r = lock(&self.renders);
        (
            r.queue.waiting(),
            r.jobs.len() - r.queue.waiting().min(r.jobs.len()),
        )
    }

    fn analysis_lane(self: Arc<Self>, jobs: mpsc::Receiver<Lane>) {
        while let Ok(Lane::Analyze { key, photos, epoch }) = jobs.recv() {
            if self.epoch(&key) != epoch {
                continue;
            }
            let started = Instant::now();
            let outcome = self.workbench.analyze(&*self.store, &key, &photos);
            self.metrics
                .analysis_ms
                .fetch_add(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            if self.epoch(&key) != epoch {
                continue;
            }
            self.count(JobKind::Analysis, &outcome.event);
            self.deliver(&key, outcome, &|_| true);
        }
    }

    fn render_lane(self: Arc<Self>) {
        loop {
            let (key, id, keep, ages, settings, cancel) = {
                let mut renders = lock(&self.renders);
                let key = loop {
                    if renders.stopping {
                        return;
                    }
                    if let Some(key) = renders.queue.start_next() {
                        break key;
                    }
                    renders = self
                        .renders_changed
                        .wait(renders)
                        .unwrap_or_else(|e| e.into_inner());
                };
                let Some(job) = renders.jobs.get(&key) else {
                    renders.queue.remove(&key);
                    continue;
                };
                (
                    key,
                    job.id,
                    job.keep.clone(),
                    job.ages.clone(),
                    job.settings.clone(),
                    job.cancel.clone(),
                )
            };
            self.tell_positions();
            let started = Instant::now();
            let result = self.render(&key, &keep, &ages, &settings, &cancel);
            {
                let mut renders = lock(&self.renders);
                renders.queue.remove(&key);
                match renders.jobs.get(&key) {
                    Some(job) if job.id == id => {
                        renders.jobs.remove(&key);
                    }
                    // A newer render of the same session waited for this one to stop.
                    Some(_) => {
                        let _ = renders.queue.push(key.clone());
                    }
                    None => {}
                }
            }
            self.renders_changed.notify_all();
            if cancel.is_cancelled() {
                continue;
            }
            self.metrics
                .render_ms
                .fetch_add(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            let outcome = result.unwrap_or_else(|e| Outcome::failed(JobKind::Render, &e));
            self.count(JobKind::Render, &outcome.event);
            self.deliver(&key, outcome, &|_| true);
        }
    }

    /// Tells every waiting session its new place in the queue.
    fn tell_positions(&self) {
        let waiting: Vec<(SessionKey, usize)> = {
            let renders = lock(&self.renders);
            renders
                .jobs
                .keys()
                .filter_map(|k| match renders.queue.position(k) {
                    Some(Position::Waiting(ahead)) => Some((k.clone(), ahead)),
                    _ => None,
                })
                .collect()
        };
        for (key, ahead) in waiting {
            let locale = self.locale_of(&key);
            self.send(&key, &locale, vec![Action::Queued { ahead }]);
        }
    }

    /// What the process's generative engine has done.
    pub fn engine_stats(&self) -> &Arc<crate::inference::EngineStats> {
        self.workbench.engines().stats()
    }

    /// Loads the newest imported generative checkpoint now, so the first stylegan render does
    /// not wait for it.
    fn load_generative(&self) {
        let dir = self.config.data_dir().join("models");
        let loaded = crate::lapse::latent::find_checkpoint(&dir, self.config.render.generator)
            .map_err(|e| e.to_string())
            .and_then(|entry| {
                self.workbench
                    .engines()
                    .engine(&dir, &entry)
                    .map_err(|e| e.to_string())
            });
        match loaded {
            Ok(_) => tracing::info!("generative networks loaded"),
            Err(e) => tracing::warn!(error = %e, "generative networks not loaded at start"),
        }
    }

    fn render(
        self: &Arc<Self>,
        key: &SessionKey,
        keep: &[usize],
        ages: &BTreeMap<usize, f64>,
        settings: &super::conversation::ChatSettings,
        cancel: &CancelToken,
    ) -> Result<Outcome, jobs::JobError> {
        let progress = jobs::throttled(|percent| {
            self.dispatch(key, Event::RenderProgress { percent });
        });
        let choices = jobs::RenderChoices {
            keep: keep.to_vec(),
            ages: ages.clone(),
            settings: settings.clone(),
        };
        self.workbench.render(
            &*self.store,
            key,
            &choices,
            self.upload_limit(key),
            cancel,
            &progress,
        )
    }

    /// Stops the worker threads after their current job.
    pub fn stop(&self) {
        lock(&self.renders).stopping = true;
        self.renders_changed.notify_all();
        let _ = lock(&self.lane).send(Lane::Stop);
        for t in std::mem::take(&mut *lock(&self.threads)) {
            let _ = t.join();
        }
    }

    /// Deletes sessions past the retention time.
    fn sweep(&self) {
        let ttl = (self.config.chat.retention_hours * 3600.0) as u64;
        match self.store.sweep(ttl) {
            Ok(0) => {}
            Ok(n) => {
                self.metrics
                    .sessions_expired
                    .fetch_add(n as u64, Ordering::Relaxed);
                let live: std::collections::HashSet<SessionKey> = self
                    .store
                    .sessions()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                self.workbench.retain(&live);
                tracing::info!(sessions = n, "expired sessions deleted");
            }
            Err(e) => tracing::error!(error = %e, "retention sweep failed"),
        }
    }

    /// The metrics in Prometheus' text format.
    pub fn metrics_text(&self) -> String {
        let m = &self.metrics;
        let (waiting, running) = self.render_load();
        let sessions = self.store.sessions().map_or(0, |s| s.len());
        let counters = [
            ("lifelapse_chat_events_total", "Events handled", &m.events),
            ("lifelapse_analyses_total", "Albums analysed", &m.analyses),
            (
                "lifelapse_analysis_failures_total",
                "Analyses that failed",
                &m.analysis_failures,
            ),
            (
                "lifelapse_analysis_milliseconds_total",
                "Time spent analysing",
                &m.analysis_ms,
            ),
            ("lifelapse_renders_total", "Videos delivered", &m.renders),
            (
                "lifelapse_render_failures_total",
                "Renders that failed",
                &m.render_failures,
            ),
            (
                "lifelapse_render_milliseconds_total",
                "Time spent rendering",
                &m.render_ms,
            ),
            (
                "lifelapse_renders_refused_total",
                "Renders refused by a full queue",
                &m.renders_refused,
            ),
            (
                "lifelapse_sessions_forgotten_total",
                "Sessions deleted by /forget",
                &m.sessions_forgotten,
            ),
            (
                "lifelapse_sessions_expired_total",
                "Sessions deleted by the retention time",
                &m.sessions_expired,
            ),
        ];
        let mut out = String::new();
        for (name, help, value) in counters {
            out += &format!(
                "# HELP {name} {help}.\n# TYPE {name} counter\n{name} {}\n",
                value.load(Ordering::Relaxed)
            );
        }
        for (name, help, value) in [
            ("lifelapse_renders_waiting", "Renders in the queue", waiting),
            ("lifelapse_renders_running", "Renders running", running),
            ("lifelapse_sessions", "Stored sessions", sessions),
        ] {
            out += &format!("# HELP {name} {help}.\n# TYPE {name} gauge\n{name} {value}\n");
        }
        out += &self.workbench.engines().stats().prometheus();
        out
    }
}

/// Runs the retention sweep every few minutes while the service lives.
fn sweeper(service: std::sync::Weak<Service>) {
    loop {
        let Some(s) = service.upgrade() else { return };
        s.sweep();
        let every = Duration::from_secs_f64(
            (s.config.chat.retention_hours * 3600.0 / 20.0).clamp(1.0, 600.0),
        );
        drop(s);
        std::thread::sleep(every);
    }
}

/// Serves `/health` and `/metrics` on `addr` from a thread of its own; returns the bound
/// address (port 0 picks a free one).
pub fn serve_metrics(
    service: Arc<Service>,
    addr: &str,
) -> Result<std::net::SocketAddr, std::io::Error> {
    let server = tiny_http::Server::http(addr).map_err(std::io::Error::other)?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| std::io::Error::other("metrics address is not an IP address"))?;
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let (status, body) = match request.url() {
                "/health" => match service.store.sessions() {
                    Ok(_) => (200, "ok\n".to_string()),
                    Err(e) => (503, format!("store: {e}\n")),
                },
                "/metrics" => (200, service.metrics_text()),
                _ => (404, "not found\n".to_string()),
            };
            let response = tiny_http::Response::from_string(body).with_status_code(status);
            let _ = request.respond(response);
        }
    });
    Ok(bound)
}
