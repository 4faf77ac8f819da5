//! The conversation, the same on every chat platform: one state value, events in, actions out.
//! Adapters turn platform updates into [`Event`]s and carry out the [`Action`]s; they decide
//! nothing. Everything here is plain data, so a conversation can be stored between events
//! (every value is serde, with a schema version) and tested without any platform.
//!
//! User-visible text is never built here: replies name a locale message key and its
//! arguments, and the adapter renders them in the user's language.

use super::buttons::{self, ButtonData, Setting};
use crate::config::{Background, GeneratorChoice, RendererKind};
use crate::render::VideoFormat;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped whenever a stored conversation's shape changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Photos one conversation accepts.
pub const MAX_PHOTOS: usize = 50;

/// How long an album's photos are gathered before one reply (albums arrive as separate
/// updates sharing a group id).
pub const ALBUM_DEBOUNCE_MS: u64 = 1500;

/// The debounce group of photos sent one by one.
const SINGLE_PHOTOS: &str = "single";

pub type UserId = i64;

/// A photo as the platform holds it: the adapter downloads it when the engine needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoRef {
    /// The platform's file id.
    pub file_id: String,
    /// Sent as a file (full quality, metadata kept) rather than as a compressed photo.
    pub as_file: bool,
    /// The person's age in it, when its source says (a name search's dated photos).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<f64>,
}

/// One face of the analysed album, in age order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceSummary {
    /// Position in the contact sheet, from 1.
    pub number: usize,
    pub age: Option<f64>,
    /// The album leaves it out (a suspected intruder, or too low a quality): shown marked,
    /// kept out unless the user keeps it. Sessions stored before call it `flagged`.
    #[serde(alias = "flagged")]
    pub left_out: bool,
    /// The user removed this face (or kept a left-out one: `removed == false`).
    pub removed: bool,
}

/// Render settings the user can change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatSettings {
    pub renderer: RendererKind,
    /// Which imported encoder the stylegan renderer uses. Sessions stored before the choice
    /// existed get the default (the newest).
    #[serde(default)]
    pub generator: GeneratorChoice,
    /// Sessions stored before the choice existed get the default.
    #[serde(default)]
    pub background: Background,
    pub size: u32,
    pub frames_between: u32,
    pub gamma: f32,
    pub mp4: bool,
}

impl ChatSettings {
    /// These settings over the config's `[render]` ones (the chat always spaces frames evenly).
    pub fn render_overrides(&self) -> crate::config::RenderOverrides {
        crate::config::RenderOverrides {
            size: Some(self.size),
            frames_between: Some(self.frames_between),
            spacing: Some(crate::config::SpacingKind::Fixed),
            gamma: Some(self.gamma),
            renderer: Some(self.renderer),
            generator: Some(self.generator),
            background: Some(self.background),
            ..Default::default()
        }
    }
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            renderer: RendererKind::Morph,
            generator: GeneratorChoice::Auto,
            background: Background::default(),
            size: 512,
            frames_between: 12,
            gamma: 0.5,
            mp4: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    Start,
    Help,
    /// `/timelapse` alone starts collecting; with a name it searches.
    Timelapse(Option<String>),
    /// `/timelapse` with photos attached (their events follow): the photos are the album, and a
    /// name given with them is not searched, which the reply says.
    TimelapseWithPhotos(Option<String>),
    Cancel,
    Settings,
    Forget,
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    Command {
        user: UserId,
        command: Command,
    },
    /// A photo, possibly one of an album (`album` is the platform's group id).
    Photo {
        user: UserId,
        photo: PhotoRef,
        album: Option<String>,
    },
    /// A file that is not an image.
    NotAnImage {
        user: UserId,
    },
    /// The debounce timer of an album fired.
    AlbumSettled {
        album: String,
    },
    Text {
        user: UserId,
        text: String,
    },
    /// A button press; `data` is what the button carried, checked here, never trusted.
    Button {
        user: UserId,
        data: String,
    },
    /// The engine analysed the photos: faces in age order, how many photos had no date, and
    /// the stored contact sheet (a store hash).
    Analyzed {
        faces: Vec<FaceSummary>,
        undated: usize,
        sheet: String,
    },
    /// The name search (after [`Action::Crawl`]) found these photos; `attributions` are the
    /// credit lines their licences require.
    Crawled {
        name: String,
        photos: Vec<PhotoRef>,
        attributions: Vec<String>,
        /// The person's birth date, when the search knows it (ages then come from dates).
        #[serde(default)]
        born: Option<chrono::NaiveDate>,
    },
    /// The name search found nobody by that name.
    CrawlUnknown {
        name: String,
    },
    CrawlFailed {
        trouble: Trouble,
    },
    AnalysisFailed {
        trouble: Trouble,
    },
    RenderProgress {
        percent: u8,
    },
    /// The render queue is full: nothing was queued.
    RenderRefused {
        waiting: usize,
    },
    /// The video is in the store under `video`; `shrunk` says it was made smaller to fit the
    /// platform's upload limit (its new side length).
    Rendered {
        video: String,
        mp4: bool,
        shrunk: Option<u32>,
    },
    RenderFailed {
        trouble: Trouble,
    },
}

/// What went wrong in a job, as the user is told it: each case is a locale message. The
/// error's details go to the log, never to the chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trouble {
    /// The photo sources could not be reached, or refused the search for now.
    SourcesUnavailable,
    /// This bot is not set up to search by name (no `[crawl] contact`).
    NameSearchOff,
    /// A photo of the session is no longer stored.
    PhotosGone,
    /// Even the smallest video is over the chat's upload limit.
    VideoTooLarge,
    /// Anything else: something on our side.
    Internal,
}

impl Trouble {
    /// The message for this trouble; `internal` is the job's own "it failed" message.
    fn message_key(self, internal: &'static str) -> &'static str {
        match self {
            Self::SourcesUnavailable => "chat-sources-unavailable",
            Self::NameSearchOff => "chat-name-search-off",
            Self::PhotosGone => "chat-photos-gone",
            Self::VideoTooLarge => "chat-video-too-large",
            Self::Internal => internal,
        }
    }
}

/// A button: its label's message key (with arguments) and the data it sends back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Button {
    pub key: String,
    pub args: BTreeMap<String, String>,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// A message: locale key and arguments.
    Reply {
        key: String,
        args: BTreeMap<String, String>,
    },
    /// Tell only `user` (an ephemeral notice or a callback answer).
    Notice { user: UserId, key: String },
    /// Call back with [`Event::AlbumSettled`] after this long.
    StartTimer { album: String, after_ms: u64 },
    /// Analyse these photos and answer with [`Event::Analyzed`].
    Analyze { photos: Vec<PhotoRef> },
    /// Find photos by name (the crawl), then analyse them.
    Crawl { name: String },
    /// The numbered contact sheet (a store hash) with ages, flagged faces marked, and the
    /// buttons.
    ShowReview {
        sheet: String,
        faces: Vec<FaceSummary>,
        buttons: Vec<Vec<Button>>,
    },
    /// Render with these faces (numbers) and settings.
    Render {
        faces: Vec<usize>,
        ages: BTreeMap<usize, f64>,
        settings: ChatSettings,
    },
    /// Edit the progress message in place.
    Progress { percent: u8 },
    /// The render waits in the queue with `ahead` renders before it (said by the service, which
    /// owns the queue).
    Queued { ahead: usize },
    /// The finished video (a store hash): MP4 plays as an animation, GIF goes as a file.
    SendVideo {
        video: String,
        mp4: bool,
        shrunk: Option<u32>,
    },
    /// A message with buttons (rows of at most 5).
    Ask {
        key: String,
        args: BTreeMap<String, String>,
        buttons: Vec<Vec<Button>>,
    },
    /// Stop the running job.
    CancelJob,
    /// Delete this chat's photos, faces, descriptors and videos now.
    DeleteData,
}

impl Action {
    /// Whether this action is work that may run in another process (and so gets a job number).
    pub fn is_job(&self) -> bool {
        matches!(self, Self::Analyze { .. } | Self::Render { .. })
    }
}

/// The kinds of work a session waits for from a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobKind {
    Analysis,
    Render,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum State {
    Idle,
    Collecting {
        photos: Vec<PhotoRef>,
        /// Albums still arriving.
        pending_albums: Vec<String>,
        /// Photos past the limit were refused (and the user told once).
        over_limit: bool,
    },
    Analyzing {
        photos: Vec<PhotoRef>,
        /// The name being searched, while the search runs (so a restart can run it again).
        #[serde(default)]
        name: Option<String>,
    },
    Reviewing {
        photos: Vec<PhotoRef>,
        faces: Vec<FaceSummary>,
        /// User-fixed ages by face number (typed as "#N YEARS" at any time in the review).
        ages: BTreeMap<usize, f64>,
        /// The contact sheet's store hash.
        #[serde(default)]
        sheet: String,
    },
    Rendering {
        photos: Vec<PhotoRef>,
        faces: Vec<FaceSummary>,
        ages: BTreeMap<usize, f64>,
        #[serde(default)]
        sheet: String,
    },
}

/// One user's session in one chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub version: u32,
    /// Who owns the session: only they can press its buttons.
    pub owner: Option<UserId>,
    pub state: State,
    pub settings: ChatSettings,
    /// The "photos sent as files keep their dates" hint was given.
    pub dates_hint_given: bool,
    /// The user's locale (a shipped one: "en", "cs"), for messages that follow a job.
    #[serde(default = "default_locale")]
    pub locale: String,
    /// The album's person's birth date, when a name search found it.
    #[serde(default)]
    pub born: Option<chrono::NaiveDate>,
    /// The number of the newest job (analysis or render) this session asked for: a job run
    /// elsewhere counts only while it is the newest, so a late or repeated one is ignored.
    #[serde(default)]
    pub job: u64,
}

impl crate::store::Versioned for Conversation {
    const SCHEMA_VERSION: u32 = SCHEMA_VERSION;
}

fn default_locale() -> String {
    "en".into()
}

impl Default for Conversation {
    fn default() -> Self {
        Self {
            version: SCHEMA_VERSION,
            owner: None,
            state: State::Idle,
            settings: ChatSettings::default(),
            dates_hint_given: false,
            locale: default_locale(),
            born: None,
            job: 0,
        }
    }
}

fn reply(key: &str) -> Action {
    Action::Reply {
        key: key.into(),
        args: BTreeMap::new(),
    }
}

/// A reply: the message `key` with its arguments.
pub fn reply_with(key: &str, args: &[(&str, String)]) -> Action {
    Action::Reply {
        key: key.into(),
        args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

fn button(key: &str, data: ButtonData, args: &[(&str, String)]) -> Button {
    Button {
        key: key.into(),
        args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        data: data.encode(),
    }
}

/// The faces' ages for a review's text: "#1 4, #2 12.5, #3 ?".
pub fn age_list(faces: &[FaceSummary]) -> String {
    faces
        .iter()
        .map(|f| match f.age {
            Some(a) => format!("#{} {}", f.number, (a * 10.0).round() / 10.0),
            None => format!("#{} ?", f.number),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses "#3 12", "3 12.5" or "#3=12" into (face number, age).
pub fn parse_age_fix(text: &str) -> Option<(usize, f64)> {
    let cleaned = text.trim().trim_start_matches('#').replace('=', " ");
    let mut parts = cleaned.split_whitespace();
    let number = parts.next()?.parse().ok()?;
    let age: f64 = parts.next()?.replace(',', ".").parse().ok()?;
    (parts.next().is_none() && (0.0..=120.0).contains(&age)).then_some((number, age))
}

impl Conversation {
    /// The user an event comes from, if it comes from one.
    fn sender(event: &Event) -> Option<UserId> {
        match event {
            Event::Command { user, .. }
            | Event::Photo { user, .. }
            | Event::NotAnImage { user }
            | Event::Text { user, .. }
            | Event::Button { user, .. } => Some(*user),
            _ => None,
        }
    }

    /// Handles one event and says what to do.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let actions = self.react(event);
        if actions.iter().any(Action::is_job) {
            self.job += 1;
        }
        actions
    }

    /// Whether the outcome of job `number` of `kind` is still wanted: it is the session's
    /// newest job and the session still waits for that kind of work.
    pub fn wants(&self, kind: JobKind, number: u64) -> bool {
        self.job == number
            && match kind {
                JobKind::Analysis => matches!(self.state, State::Analyzing { .. }),
                JobKind::Render => matches!(self.state, State::Rendering { .. }),
            }
    }

    fn react(&mut self, event: Event) -> Vec<Action> {
        // In a group, a session belongs to whoever started it.
        if let (Some(sender), Some(owner)) = (Self::sender(&event), self.owner) {
            if sender != owner && self.state != State::Idle {
                return match event {
                    Event::Button { .. } => vec![Action::Notice {
                        user: sender,
                        key: "chat-not-your-session".into(),
                    }],
                    // Other members' messages are theirs; this session ignores them.
                    _ => Vec::new(),
                };
            }
        }
        match event {
            Event::Command { user, command } => self.command(user, command),
            Event::Photo { user, photo, album } => self.photo(user, photo, album),
            Event::NotAnImage { .. } => vec![reply("chat-not-an-image")],
            Event::AlbumSettled { album } => self.album_settled(&album),
            Event::Text { text, .. } => self.text(&text),
            Event::Button { user, data } => self.button(user, &data),
            Event::Analyzed {
                faces,
                undated,
                sheet,
            } => self.analyzed(faces, undated, sheet),
            Event::Crawled {
                name,
                photos,
                attributions,
                born,
            } => {
                self.born = born;
                self.crawled(name, photos, attributions)
            }
            Event::CrawlUnknown { name } => {
                self.state = State::Idle;
                vec![reply_with("chat-crawl-unknown", &[("name", name)])]
            }
            Event::CrawlFailed { trouble } => {
                self.state = State::Idle;
                vec![reply(trouble.message_key("chat-crawl-failed"))]
            }
            Event::AnalysisFailed { trouble } => {
                self.state = State::Idle;
                vec![reply(trouble.message_key("chat-analysis-failed"))]
            }
            Event::RenderProgress { percent } => match self.state {
                State::Rendering { .. } => vec![Action::Progress {
                    percent: percent.min(100),
                }],
                _ => Vec::new(),
            },
            Event::RenderRefused { waiting } => {
                self.render_finished();
                vec![reply_with(
                    "chat-queue-full",
                    &[("waiting", waiting.to_string())],
                )]
            }
            Event::Rendered { video, mp4, shrunk } => {
                if !matches!(self.state, State::Rendering { .. }) {
                    // Cancelled or forgotten meanwhile: the video is not wanted.
                    return Vec::new();
                }
                self.render_finished();
                vec![Action::SendVideo { video, mp4, shrunk }]
            }
            Event::RenderFailed { trouble } => {
                self.render_finished();
                vec![reply(trouble.message_key("chat-render-failed"))]
            }
        }
    }

    /// Back to the review after a render ends (done or failed), so another render can follow
    /// with other settings.
    fn render_finished(&mut self) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Rendering {
                photos,
                faces,
                ages,
                sheet,
            } => {
                self.state = State::Reviewing {
                    photos,
                    faces,
                    ages,
                    sheet,
                };
            }
            other => self.state = other,
        }
    }

    /// After a restart: the work this conversation was waiting for, started again (an album's
    /// debounce, the analysis, the name search, the render). Messages already sent are not
    /// repeated.
    pub fn resume(&self) -> Vec<Action> {
        match &self.state {
            State::Idle | State::Reviewing { .. } => Vec::new(),
            State::Collecting { pending_albums, .. } => pending_albums
                .iter()
                .map(|album| Action::StartTimer {
                    album: album.clone(),
                    after_ms: 0,
                })
                .collect(),
            State::Analyzing {
                name: Some(name), ..
            } => vec![Action::Crawl { name: name.clone() }],
            State::Analyzing { photos, .. } => vec![Action::Analyze {
                photos: photos.clone(),
            }],
            State::Rendering { faces, ages, .. } => vec![Action::Render {
                faces: faces
                    .iter()
                    .filter(|f| !f.removed)
                    .map(|f| f.number)
                    .collect(),
                ages: ages.clone(),
                settings: self.settings.clone(),
            }],
        }
    }

    fn command(&mut self, user: UserId, command: Command) -> Vec<Action> {
        match command {
            Command::Start | Command::Help => vec![reply("chat-help")],
            Command::Timelapse(Some(name)) if !name.trim().is_empty() => {
                self.owner = Some(user);
                self.state = State::Analyzing {
                    photos: Vec::new(),
                    name: Some(name.trim().to_string()),
                };
                vec![
                    reply_with("chat-searching", &[("name", name.trim().to_string())]),
                    Action::Crawl {
                        name: name.trim().to_string(),
                    },
                ]
            }
            Command::Timelapse(_) | Command::TimelapseWithPhotos(_) => {
                self.owner = Some(user);
                self.born = None;
                self.state = State::Collecting {
                    photos: Vec::new(),
                    pending_albums: Vec::new(),
                    over_limit: false,
                };
                let mut actions = vec![reply("chat-send-photos")];
                if let Command::TimelapseWithPhotos(Some(name)) = command {
                    if !name.trim().is_empty() {
                        actions.push(reply_with(
                            "chat-photos-over-name",
                            &[("name", name.trim().to_string())],
                        ));
                    }
                }
                actions
            }
            Command::Cancel => {
                let busy = matches!(
                    self.state,
                    State::Rendering { .. } | State::Analyzing { .. }
                );
                self.state = State::Idle;
                self.owner = None;
                let mut actions = Vec::new();
                if busy {
                    actions.push(Action::CancelJob);
                }
                actions.push(reply("chat-cancelled"));
                actions
            }
            Command::Settings => vec![self.settings_buttons()],
            Command::Forget => {
                let mut actions = Vec::new();
                if matches!(
                    self.state,
                    State::Rendering { .. } | State::Analyzing { .. }
                ) {
                    actions.push(Action::CancelJob);
                }
                *self = Conversation {
                    locale: std::mem::take(&mut self.locale),
                    ..Conversation::default()
                };
                actions.push(Action::DeleteData);
                actions.push(reply("chat-forgotten"));
                actions
            }
            Command::Unknown(name) => {
                vec![reply_with("chat-unknown-command", &[("command", name)])]
            }
        }
    }

    fn photo(&mut self, user: UserId, photo: PhotoRef, album: Option<String>) -> Vec<Action> {
        if matches!(self.state, State::Idle) {
            // Sending photos starts a session, as /timelapse does.
            self.owner = Some(user);
            self.state = State::Collecting {
                photos: Vec::new(),
                pending_albums: Vec::new(),
                over_limit: false,
            };
        }
        let State::Collecting {
            photos,
            pending_albums,
            over_limit,
        } = &mut self.state
        else {
            return vec![reply("chat-busy")];
        };
        if photos.len() >= MAX_PHOTOS {
            // Said once, not once per photo of a flood.
            if std::mem::replace(over_limit, true) {
                return Vec::new();
            }
            return vec![reply_with(
                "chat-too-many-photos",
                &[("max", MAX_PHOTOS.to_string())],
            )];
        }
        photos.push(photo);
        // Single photos sent in a burst are gathered like an album, so a flood of photos gets
        // one reply, not one each.
        let group = album.unwrap_or_else(|| SINGLE_PHOTOS.to_string());
        if pending_albums.contains(&group) {
            // The first photo of a group started its timer; the rest just join.
            return Vec::new();
        }
        pending_albums.push(group.clone());
        vec![Action::StartTimer {
            album: group,
            after_ms: ALBUM_DEBOUNCE_MS,
        }]
    }

    /// After photos arrive: how many, and (from two on) the button that starts the analysis.
    fn collected_reply(&self) -> Action {
        let n = match &self.state {
            State::Collecting { photos, .. } => photos.len(),
            _ => 0,
        };
        if n < 2 {
            reply("chat-one-photo")
        } else {
            Action::Ask {
                key: "chat-photos-collected".into(),
                args: [("count".to_string(), n.to_string())].into(),
                buttons: vec![vec![button(
                    "chat-button-analyze",
                    ButtonData::Analyze,
                    &[],
                )]],
            }
        }
    }

    fn album_settled(&mut self, album: &str) -> Vec<Action> {
        let State::Collecting { pending_albums, .. } = &mut self.state else {
            return Vec::new();
        };
        pending_albums.retain(|a| a != album);
        vec![self.collected_reply()]
    }

    fn text(&mut self, text: &str) -> Vec<Action> {
        let State::Reviewing { faces, ages, .. } = &mut self.state else {
            return vec![reply("chat-help")];
        };
        match parse_age_fix(text) {
            Some((number, age)) if number >= 1 && number <= faces.len() => {
                ages.insert(number, age);
                if let Some(f) = faces.iter_mut().find(|f| f.number == number) {
                    f.age = Some(age);
                }
                self.review()
            }
            _ => vec![reply("chat-age-format")],
        }
    }

    fn button(&mut self, _user: UserId, data: &str) -> Vec<Action> {
        let Some(press) = ButtonData::decode(data) else {
            return vec![reply("chat-stale-button")];
        };
        match (press, &mut self.state) {
            (ButtonData::Analyze, State::Collecting { photos, .. }) if photos.len() >= 2 => {
                let photos = std::mem::take(photos);
                self.state = State::Analyzing {
                    photos: photos.clone(),
                    name: None,
                };
                vec![reply("chat-analyzing"), Action::Analyze { photos }]
            }
            (ButtonData::Remove(n) | ButtonData::Keep(n), State::Reviewing { faces, .. }) => {
                let Some(face) = faces.iter_mut().find(|f| f.number == n) else {
                    return vec![reply("chat-stale-button")];
                };
                face.removed = matches!(press, ButtonData::Remove(_));
                self.review()
            }
            (ButtonData::FixAge, State::Reviewing { .. }) => vec![reply("chat-age-format")],
            (ButtonData::ShowSettings, _) => vec![self.settings_buttons()],
            (ButtonData::Set(setting), _) => {
                self.set(setting);
                vec![self.settings_buttons()]
            }
            (ButtonData::Render, State::Reviewing { faces, ages, .. }) => {
                let used: Vec<usize> = faces
                    .iter()
                    .filter(|f| !f.removed)
                    .map(|f| f.number)
                    .collect();
                if used.len() < 2 {
                    return vec![reply("chat-too-few-faces")];
                }
                let action = Action::Render {
                    faces: used,
                    ages: ages.clone(),
                    settings: self.settings.clone(),
                };
                if let State::Reviewing {
                    photos,
                    faces,
                    ages,
                    sheet,
                } = std::mem::replace(&mut self.state, State::Idle)
                {
                    self.state = State::Rendering {
                        photos,
                        faces,
                        ages,
                        sheet,
                    };
                }
                vec![reply("chat-rendering"), action]
            }
            _ => vec![reply("chat-stale-button")],
        }
    }

    /// One setting changed (already checked by [`ButtonData::decode`]).
    fn set(&mut self, setting: Setting) {
        let s = &mut self.settings;
        match setting {
            Setting::Renderer(kind) => s.renderer = kind,
            Setting::Generator(g) => {
                s.renderer = RendererKind::Stylegan;
                s.generator = g;
            }
            Setting::Background(b) => s.background = b,
            Setting::Size(size) => s.size = size,
            Setting::FramesBetween(n) => s.frames_between = n,
            Setting::Gamma(g) => s.gamma = g,
            Setting::Format(f) => s.mp4 = f == VideoFormat::Mp4,
        }
    }

    fn settings_buttons(&self) -> Action {
        let s = &self.settings;
        let choice = |setting: Setting, current: bool| {
            let (name, value) = setting.name_and_value();
            button(
                if current {
                    "chat-setting-current"
                } else {
                    "chat-setting"
                },
                ButtonData::Set(setting),
                &[("name", name.to_string()), ("value", value)],
            )
        };
        let format = if s.mp4 {
            VideoFormat::Mp4
        } else {
            VideoFormat::Gif
        };
        // The stylegan renderer shows once per generator family, so the chat chooses between
        // imported encoders in the same row.
        let generative = |g: GeneratorChoice| {
            let current = s.renderer == RendererKind::Stylegan && s.generator == g;
            choice(Setting::Generator(g), current)
        };
        let rows = vec![
            [RendererKind::Pixel, RendererKind::Morph]
                .map(|r| choice(Setting::Renderer(r), s.renderer == r))
                .into_iter()
                .chain([GeneratorChoice::Stylegan2, GeneratorChoice::Stylegan3].map(generative))
                .collect(),
            Background::ALL
                .map(|b| choice(Setting::Background(b), s.background == b))
                .to_vec(),
            buttons::SIZES
                .map(|v| choice(Setting::Size(v), s.size == v))
                .to_vec(),
            buttons::FRAMES
                .map(|v| choice(Setting::FramesBetween(v), s.frames_between == v))
                .to_vec(),
            // Discord takes five rows of five buttons: the format shares the blend's row.
            buttons::GAMMAS
                .map(|g| choice(Setting::Gamma(g), (s.gamma - g).abs() < 1e-6))
                .into_iter()
                .chain(
                    [VideoFormat::Gif, VideoFormat::Mp4]
                        .map(|f| choice(Setting::Format(f), format == f)),
                )
                .collect(),
        ];
        Action::Ask {
            key: "chat-settings".into(),
            args: BTreeMap::new(),
            buttons: rows,
        }
    }

    fn crawled(
        &mut self,
        name: String,
        photos: Vec<PhotoRef>,
        attributions: Vec<String>,
    ) -> Vec<Action> {
        if !matches!(self.state, State::Analyzing { .. }) {
            return Vec::new();
        }
        if photos.len() < 2 {
            self.state = State::Idle;
            return vec![reply_with(
                "chat-crawl-too-few",
                &[("name", name), ("count", photos.len().to_string())],
            )];
        }
        self.state = State::Analyzing {
            photos: photos.clone(),
            name: None,
        };
        let mut actions = vec![reply_with(
            "chat-crawl-found",
            &[("name", name), ("count", photos.len().to_string())],
        )];
        if !attributions.is_empty() {
            actions.push(reply_with(
                "chat-crawl-credits",
                &[("lines", attributions.join("\n"))],
            ));
        }
        actions.push(Action::Analyze { photos });
        actions
    }

    fn analyzed(&mut self, faces: Vec<FaceSummary>, undated: usize, sheet: String) -> Vec<Action> {
        let photos = match std::mem::replace(&mut self.state, State::Idle) {
            State::Analyzing { photos, .. } => photos,
            other => {
                // Cancelled meanwhile (or a stale job): keep whatever the user is doing now.
                self.state = other;
                return Vec::new();
            }
        };
        let mut actions = Vec::new();
        if faces.len() < 2 {
            return vec![reply_with(
                "chat-too-few-faces-found",
                &[("count", faces.len().to_string())],
            )];
        }
        if undated > 0 && !self.dates_hint_given && photos.iter().any(|p| !p.as_file) {
            self.dates_hint_given = true;
            actions.push(reply("chat-dates-hint"));
        }
        // Suspected intruders start out removed; the review shows them with a "keep" button.
        let faces = faces
            .into_iter()
            .map(|f| FaceSummary {
                removed: f.removed || f.left_out,
                ..f
            })
            .collect();
        self.state = State::Reviewing {
            photos,
            faces,
            ages: BTreeMap::new(),
            sheet,
        };
        actions.extend(self.review());
        actions
    }

    /// The review: faces in age order with a keep/remove button per left-out face, "fix an
    /// age", settings and Render.
    fn review(&self) -> Vec<Action> {
        let State::Reviewing { faces, sheet, .. } = &self.state else {
            return Vec::new();
        };
        let mut rows: Vec<Vec<Button>> = Vec::new();
        let mut row = Vec::new();
        for f in faces {
            let n = f.number.to_string();
            let b = if f.removed {
                button(
                    "chat-button-keep",
                    ButtonData::Keep(f.number),
                    &[("number", n)],
                )
            } else {
                button(
                    "chat-button-remove",
                    ButtonData::Remove(f.number),
                    &[("number", n)],
                )
            };
            if f.left_out {
                row.push(b);
            }
            if row.len() == 5 {
                rows.push(std::mem::take(&mut row));
            }
        }
        if !row.is_empty() {
            rows.push(row);
        }
        rows.push(vec![
            button("chat-button-fix-age", ButtonData::FixAge, &[]),
            button("chat-button-settings", ButtonData::ShowSettings, &[]),
            button("chat-button-render", ButtonData::Render, &[]),
        ]);
        vec![Action::ShowReview {
            sheet: sheet.clone(),
            faces: faces.clone(),
            buttons: rows,
        }]
    }
}
