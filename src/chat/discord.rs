//! The Discord bot: turns interactions and messages into conversation events and the
//! service's actions into Discord calls (through serenity), deciding nothing itself.
//!
//! - `/timelapse [name] [photo1…photo10]` and the message command "Make a time-lapse" (on a
//!   message holding photos) start a session; photos posted later in the same channel (or DM)
//!   join it while it collects.
//! - Every interaction is deferred at once (Discord allows three seconds) and answered by
//!   editing that response; later messages go to the channel.
//! - Buttons carry "OWNER|DATA": the conversation checks the presser owns the session, others
//!   get an ephemeral notice. More than four rows of face buttons are paged.
//! - Render progress edits the Render press's deferred response, and the video is attached to
//!   it while the interaction token lives (15 minutes); later it is a new message. The upload
//!   limit is the interaction's `attachment_size_limit`, read each time.

use super::conversation::reply_with as reply;
use super::conversation::{Action, Button, Command, Event, FaceSummary, PhotoRef};
use super::i18n::Messages;
use super::intake;
use super::jobs::STORED;
use super::lock;
use super::service::{Outgoing, Service};
use super::turns::Turns;
use crate::store::SessionKey;
use serenity::all::{ActionRowComponent, Attachment, Http};
use serenity::all::{
    ButtonStyle, ChannelId, CommandDataOptionValue, CommandInteraction, CommandOptionType,
    CommandType, ComponentInteraction, Context, CreateActionRow, CreateAttachment, CreateButton,
    CreateCommand, CreateCommandOption, CreateInputText, CreateInteractionResponse,
    CreateInteractionResponseMessage, CreateMessage, CreateModal, EditInteractionResponse,
    EditMessage, EventHandler, GatewayIntents, HttpBuilder, InputTextStyle, Interaction, Message,
    MessageId, ModalInteraction, Ready,
};
use serenity::builder::Builder;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const PLATFORM: &str = "discord";

/// Interaction tokens stop working after 15 minutes; leave a margin.
const TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 60);
/// Photos taken from one `/timelapse` (its attachment options).
const PHOTO_OPTIONS: usize = 10;
/// Rows of face buttons per review page (the fifth row holds the controls).
const FACE_ROWS_PER_PAGE: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error("the Discord client failed")]
    Client(#[source] Box<serenity::Error>),
    #[error("the bot's messages")]
    Messages(#[from] crate::chat::i18n::I18nError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

pub struct DiscordOptions {
    pub token: crate::config::Secret,
    /// The API's base URL; empty for Discord itself.
    pub api_url: String,
    /// Largest photo taken, in bytes.
    pub max_photo_bytes: u64,
}

impl DiscordOptions {
    pub fn from_config(config: &crate::config::Config, token: crate::config::Secret) -> Self {
        Self {
            token,
            api_url: config.discord.api_url.clone(),
            max_photo_bytes: config.album.max_file_mb.saturating_mul(1_000_000),
        }
    }
}

/// A deferred interaction response the bot may still edit.
#[derive(Clone)]
struct Deferred {
    token: String,
    at: Instant,
}

impl Deferred {
    fn alive(&self) -> bool {
        self.at.elapsed() < TOKEN_LIFETIME
    }
}

/// The review message, its sheet, and its buttons (for paging).
#[derive(Clone)]
struct ShownReview {
    channel: ChannelId,
    message: MessageId,
    sheet: String,
    buttons: Vec<Vec<Button>>,
    faces: Vec<FaceSummary>,
}

#[derive(Default)]
struct SessionUi {
    /// A command's "thinking…" response, to be replaced by the first reply.
    opening: Option<Deferred>,
    /// The Render press's response: progress, then the video.
    progress: Option<(Deferred, Instant, String)>,
    review: Option<ShownReview>,
}

struct Adapter {
    http: Arc<Http>,
    service: Arc<Service>,
    messages: Messages,
    ui: Mutex<HashMap<SessionKey, SessionUi>>,
    /// A session's actions (from a background job's outbox and from an interaction) reach
    /// Discord in the order the conversation made them.
    turns: Turns,
    max_photo_bytes: u64,
}

struct Handler {
    adapter: Arc<Adapter>,
    started: Mutex<bool>,
}

/// Runs the bot until `shutdown` resolves.
pub async fn run(
    service: Arc<Service>,
    options: DiscordOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), DiscordError> {
    let make_http = || {
        let mut builder = HttpBuilder::new(options.token.expose());
        if !options.api_url.is_empty() {
            // A local stand-in (tests, benchmarks) or a gateway proxy: no rate limiter.
            builder = builder
                .proxy(options.api_url.trim_end_matches('/').to_string())
                .ratelimiter_disabled(true);
        }
        builder.build()
    };
    let messages = Messages::load()?;
    let adapter = Arc::new(Adapter {
        http: Arc::new(make_http()),
        service: service.clone(),
        messages,
        ui: Mutex::new(HashMap::new()),
        turns: Turns::default(),
        max_photo_bytes: options.max_photo_bytes,
    });
    let intents = GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT;
    let mut client = serenity::all::ClientBuilder::new_with_http(make_http(), intents)
        .event_handler(Handler {
            adapter,
            started: Mutex::new(false),
        })
        .await
        .map_err(|e| DiscordError::Client(Box::new(e)))?;
    tokio::select! {
        result = client.start() => result.map_err(|e| DiscordError::Client(Box::new(e))),
        () = shutdown => {
            client.shard_manager.shutdown_all().await;
            Ok(())
        }
    }
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        tracing::info!(bot = %ready.user.name, "Discord bot connected");
        let a = &self.adapter;
        a.http.set_application_id(ready.application.id);
        let mut timelapse = CreateCommand::new("timelapse")
            .description(a.messages.plain("en", "discord-command-description"))
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    "name",
                    a.messages.plain("en", "discord-option-name"),
                )
                .required(false),
            );
        for i in 1..=PHOTO_OPTIONS {
            timelapse = timelapse.add_option(
                CreateCommandOption::new(
                    CommandOptionType::Attachment,
                    format!("photo{i}"),
                    a.messages.plain("en", "discord-option-photo"),
                )
                .required(false),
            );
        }
        let context_menu = CreateCommand::new(a.messages.plain("en", "discord-context-menu"))
            .kind(CommandType::Message);
        if let Err(e) =
            serenity::all::Command::set_global_commands(&a.http, vec![timelapse, context_menu])
                .await
        {
            tracing::error!(error = %e, "registering the commands failed");
        }
        // Resume interrupted sessions once per process (READY repeats on reconnects).
        let first = !std::mem::replace(&mut *lock(&self.started), true);
        if first {
            let service = a.service.clone();
            let connected =
                tokio::task::spawn_blocking(move || service.connect(PLATFORM, 25 * 1024 * 1024))
                    .await;
            match connected {
                Ok(Ok(outbox)) => {
                    tokio::spawn(a.clone().deliver(outbox));
                }
                other => tracing::error!(?other, "the chat service refused the Discord adapter"),
            }
        }
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        let a = self.adapter.clone();
        match interaction {
            Interaction::Command(command) => a.command(command).await,
            Interaction::Component(press) => a.press(press).await,
            Interaction::Modal(modal) => a.modal(modal).await,
            _ => {}
        }
    }

    async fn message(&self, _ctx: Context, message: Message) {
        self.adapter.clone().posted(message).await;
    }
}

impl Adapter {
    fn key(&self, channel: ChannelId, user: u64) -> SessionKey {
        SessionKey {
            platform: PLATFORM.into(),
            chat: channel.get() as i64,
            user: user as i64,
        }
    }

    async fn handle_all(&self, key: &SessionKey, locale: Option<String>, events: Vec<Event>) {
        for event in events {
            if let Some((locale, actions)) =
                self.service.handle_async(key, locale.clone(), event).await
            {
                for action in actions {
                    self.perform(key, &locale, action).await;
                }
            }
        }
    }

    /// Downloads an attachment into the store: its hash, None when it is not an image, or
    /// the message to send.
    async fn fetch(
        &self,
        key: &SessionKey,
        attachment: &Attachment,
    ) -> Result<Option<String>, Action> {
        if let Some(refusal) = intake::too_large(attachment.size as u64, self.max_photo_bytes) {
            return Err(refusal);
        }
        let bytes = attachment.download().await.map_err(|e| {
            tracing::warn!(error = %e, "downloading a photo from Discord failed");
            reply("chat-download-failed", &[])
        })?;
        intake::keep(&self.service, key, bytes, self.max_photo_bytes).await
    }

    /// Photo events for attachments (one debounce group), and the messages for those that
    /// could not be taken.
    async fn photo_events(
        &self,
        key: &SessionKey,
        attachments: &[Attachment],
        group: String,
    ) -> (Vec<Event>, Vec<Action>) {
        let mut events = Vec::new();
        let mut problems = Vec::new();
        for attachment in attachments {
            match self.fetch(key, attachment).await {
                Ok(Some(hash)) => events.push(Event::Photo {
                    user: key.user,
                    photo: PhotoRef {
                        file_id: format!("{STORED}{hash}"),
                        // Discord keeps the file as sent, metadata included.
                        as_file: true,
                        age: None,
                    },
                    album: Some(group.clone()),
                }),
                Ok(None) => events.push(Event::NotAnImage { user: key.user }),
                Err(action) => problems.push(action),
            }
        }
        (events, problems)
    }

    async fn command(&self, command: CommandInteraction) {
        let locale = self.messages.locale_for(Some(&command.locale)).to_string();
        let key = self.key(command.channel_id, command.user.id.get());
        // Deferred first: downloading photos can take longer than three seconds.
        if let Err(e) = command
            .create_response(
                &self.http,
                CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new()),
            )
            .await
        {
            tracing::warn!(error = %e, "deferring a command failed");
            return;
        }
        lock(&self.ui).entry(key.clone()).or_default().opening = Some(Deferred {
            token: command.token.clone(),
            at: Instant::now(),
        });
        let group = command.id.get().to_string();
        let mut events = Vec::new();
        let mut problems = Vec::new();
        if command.data.kind == CommandType::Message {
            // "Make a time-lapse" on a message: its photos are the album.
            let target = command
                .data
                .target_id
                .and_then(|t| command.data.resolved.messages.get(&t.to_message_id()));
            events.push(Event::Command {
                user: key.user,
                command: Command::Timelapse(None),
            });
            if let Some(message) = target {
                let (e, p) = self.photo_events(&key, &message.attachments, group).await;
                events.extend(e);
                problems.extend(p);
            }
        } else {
            let mut name = None;
            let mut attachments = Vec::new();
            for option in &command.data.options {
                match &option.value {
                    CommandDataOptionValue::String(s) if option.name == "name" => {
                        name = Some(s.clone())
                    }
                    CommandDataOptionValue::Attachment(id) => {
                        if let Some(a) = command.data.resolved.attachments.get(id) {
                            attachments.push(a.clone());
                        }
                    }
                    _ => {}
                }
            }
            let with_name = name.filter(|n| !n.trim().is_empty());
            events.push(Event::Command {
                user: key.user,
                command: match attachments.is_empty() {
                    true => Command::Timelapse(with_name),
                    false => Command::TimelapseWithPhotos(with_name),
                },
            });
            let (e, p) = self.photo_events(&key, &attachments, group).await;
            events.extend(e);
            problems.extend(p);
        }
        for p in problems {
            self.perform(&key, &locale, p).await;
        }
        self.handle_all(&key, Some(locale), events).await;
    }

    async fn press(&self, press: ComponentInteraction) {
        let locale = self.messages.locale_for(Some(&press.locale)).to_string();
        let custom = press.data.custom_id.clone();
        let parsed = super::buttons::owner_and_data(&custom).map(|(o, d)| (o, d.to_string()));
        let presser = press.user.id.get() as i64;
        let Some((owner, data)) = parsed else {
            self.ephemeral(&press, self.messages.plain(&locale, "chat-stale-button"))
                .await;
            return;
        };
        let key = SessionKey {
            platform: PLATFORM.into(),
            chat: press.channel_id.get() as i64,
            user: owner,
        };
        if presser != owner {
            // Refused here only to answer at once; the conversation refuses it too.
            let _ = self
                .service
                .handle_async(
                    &key,
                    None,
                    Event::Button {
                        user: presser,
                        data: data.clone(),
                    },
                )
                .await;
            self.ephemeral(
                &press,
                self.messages.plain(&locale, "chat-not-your-session"),
            )
            .await;
            return;
        }
        if let Some(page) = data.strip_prefix("page:") {
            self.show_page(&key, &locale, page.parse().unwrap_or(0), Some(&press))
                .await;
            return;
        }
        if super::buttons::ButtonData::decode(&data) == Some(super::buttons::ButtonData::FixAge) {
            // A form to type "#3 12" into: the text goes to the conversation as typed.
            let modal = CreateModal::new(
                super::buttons::with_owner(owner, "age"),
                self.messages.plain(&locale, "chat-button-fix-age"),
            )
            .components(vec![CreateActionRow::InputText(
                CreateInputText::new(
                    InputTextStyle::Short,
                    self.messages.plain(&locale, "chat-age-format"),
                    "age",
                )
                .placeholder("#3 12"),
            )]);
            if let Err(e) = press
                .create_response(&self.http, CreateInteractionResponse::Modal(modal))
                .await
            {
                tracing::warn!(error = %e, "showing the age form failed");
            }
            return;
        }
        let response = if data == "render" {
            // A message of its own: progress edits it, the video is attached to it.
            lock(&self.ui).entry(key.clone()).or_default().progress = Some((
                Deferred {
                    token: press.token.clone(),
                    at: Instant::now(),
                },
                Instant::now() - Duration::from_secs(2),
                String::new(),
            ));
            let limit = u64::from(press.attachment_size_limit);
            if limit > 0 {
                self.service.set_upload_limit(&key, limit);
            }
            CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new())
        } else {
            CreateInteractionResponse::Acknowledge
        };
        if let Err(e) = press.create_response(&self.http, response).await {
            tracing::warn!(error = %e, "answering a button failed");
        }
        self.handle_all(
            &key,
            Some(locale),
            vec![Event::Button {
                user: presser,
                data,
            }],
        )
        .await;
    }

    async fn ephemeral(&self, press: &ComponentInteraction, text: String) {
        let response = CreateInteractionResponse::Message(
            CreateInteractionResponseMessage::new()
                .content(text)
                .ephemeral(true),
        );
        if let Err(e) = press.create_response(&self.http, response).await {
            tracing::warn!(error = %e, "answering a button failed");
        }
    }

    async fn modal(&self, modal: ModalInteraction) {
        let locale = self.messages.locale_for(Some(&modal.locale)).to_string();
        let owner = super::buttons::owner_and_data(&modal.data.custom_id).map(|(o, _)| o);
        let text: String = modal
            .data
            .components
            .iter()
            .flat_map(|row| row.components.iter())
            .filter_map(|c| match c {
                ActionRowComponent::InputText(t) => t.value.clone(),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" ");
        let _ = modal
            .create_response(&self.http, CreateInteractionResponse::Acknowledge)
            .await;
        let presser = modal.user.id.get() as i64;
        let Some(owner) = owner else { return };
        let key = SessionKey {
            platform: PLATFORM.into(),
            chat: modal.channel_id.get() as i64,
            user: owner,
        };
        self.handle_all(
            &key,
            Some(locale),
            vec![Event::Text {
                user: presser,
                text,
            }],
        )
        .await;
    }

    /// Photos posted in a channel join the poster's session there while it collects (in a
    /// DM, they start one); typed text goes to the poster's session.
    async fn posted(self: Arc<Self>, message: Message) {
        if message.author.bot {
            return;
        }
        let key = self.key(message.channel_id, message.author.id.get());
        let direct = message.guild_id.is_none();
        let (service, k) = (self.service.clone(), key.clone());
        let conversation = tokio::task::spawn_blocking(move || service.conversation(&k))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        let locale = conversation
            .as_ref()
            .map_or_else(|| "en".to_string(), |c| c.locale.clone());
        let state = conversation.map(|c| c.state);
        use super::conversation::State;
        let active = !matches!(state, None | Some(State::Idle));
        if !message.attachments.is_empty() {
            if !active && !direct {
                return;
            }
            let (events, problems) = self
                .photo_events(&key, &message.attachments, message.id.get().to_string())
                .await;
            for p in problems {
                self.perform(&key, &locale, p).await;
            }
            self.handle_all(&key, None, events).await;
        } else if matches!(state, Some(State::Reviewing { .. }))
            && (direct || super::conversation::parse_age_fix(&message.content).is_some())
        {
            // In a server channel only what reads as an age fix ("#3 12") is for the bot.
            self.handle_all(
                &key,
                None,
                vec![Event::Text {
                    user: key.user,
                    text: message.content.clone(),
                }],
            )
            .await;
        }
    }

    async fn deliver(self: Arc<Self>, mut outbox: tokio::sync::mpsc::UnboundedReceiver<Outgoing>) {
        while let Some(out) = outbox.recv().await {
            for action in out.actions {
                self.perform(&out.key, &out.locale, action).await;
            }
        }
    }

    fn components(
        &self,
        key: &SessionKey,
        locale: &str,
        rows: &[Vec<Button>],
    ) -> Vec<CreateActionRow> {
        rows.iter()
            .map(|row| {
                CreateActionRow::Buttons(
                    row.iter()
                        .take(5)
                        .map(|b| {
                            use super::buttons::{self, ButtonData};
                            let style = match ButtonData::decode(&b.data) {
                                Some(ButtonData::Render | ButtonData::Analyze) => {
                                    ButtonStyle::Primary
                                }
                                Some(ButtonData::Remove(_)) => ButtonStyle::Danger,
                                _ => ButtonStyle::Secondary,
                            };
                            CreateButton::new(buttons::with_owner(key.user, &b.data))
                                .label(self.messages.text(locale, &b.key, &b.args))
                                .style(style)
                        })
                        .collect(),
                )
            })
            .collect()
    }

    /// Sends text (and buttons) in the session's channel: as the opening interaction's
    /// response while it waits for one, else as a channel message.
    async fn say(&self, key: &SessionKey, text: String, rows: Vec<CreateActionRow>) {
        let opening = lock(&self.ui)
            .get_mut(key)
            .and_then(|ui| ui.opening.take())
            .filter(Deferred::alive);
        if let Some(deferred) = opening {
            let edit = EditInteractionResponse::new()
                .content(text.clone())
                .components(rows.clone());
            match edit.execute(&*self.http, &deferred.token).await {
                Ok(_) => return,
                Err(e) => tracing::warn!(error = %e, "editing the response failed; posting"),
            }
        }
        let channel = ChannelId::new(key.chat as u64);
        if let Err(e) = channel
            .send_message(
                &self.http,
                CreateMessage::new().content(text).components(rows),
            )
            .await
        {
            tracing::warn!(error = %e, "sending a message failed");
        }
    }

    async fn perform(&self, key: &SessionKey, locale: &str, action: Action) {
        let _turn = self.turns.take(key).await;
        match action {
            Action::Reply {
                key: text_key,
                args,
            } => {
                self.say(
                    key,
                    self.messages.text(locale, &text_key, &args),
                    Vec::new(),
                )
                .await
            }
            Action::Notice { key: text_key, .. } => {
                self.say(key, self.messages.plain(locale, &text_key), Vec::new())
                    .await
            }
            Action::Ask {
                key: text_key,
                args,
                buttons,
            } => {
                let rows = self.components(key, locale, &buttons);
                self.say(key, self.messages.text(locale, &text_key, &args), rows)
                    .await
            }
            Action::ShowReview {
                sheet,
                faces,
                buttons,
            } => {
                let known = lock(&self.ui)
                    .get(key)
                    .and_then(|ui| ui.review.clone())
                    .filter(|r| r.sheet == sheet);
                match known {
                    Some(shown) => {
                        if let Some(ui) = lock(&self.ui).get_mut(key) {
                            ui.review = Some(ShownReview {
                                buttons,
                                faces,
                                ..shown
                            });
                        }
                        self.show_page(key, locale, 0, None).await;
                    }
                    None => self.post_review(key, locale, sheet, faces, buttons).await,
                }
            }
            Action::Queued { ahead } => {
                let text = self.messages.text(
                    locale,
                    "chat-queued",
                    &[("ahead".to_string(), ahead.to_string())].into(),
                );
                self.progress(key, text, true).await
            }
            Action::Progress { percent } => {
                let text = self.messages.text(
                    locale,
                    "chat-progress",
                    &[("percent".to_string(), percent.to_string())].into(),
                );
                self.progress(key, text, false).await
            }
            Action::SendVideo { video, mp4, shrunk } => {
                self.send_video(key, locale, &video, mp4, shrunk).await
            }
            Action::StartTimer { .. }
            | Action::Analyze { .. }
            | Action::Crawl { .. }
            | Action::Render { .. }
            | Action::CancelJob
            | Action::DeleteData => {}
        }
    }

    fn review_text(
        &self,
        locale: &str,
        faces: &[FaceSummary],
        page: usize,
        pages: usize,
    ) -> String {
        let mut text = self.messages.review(locale, faces);
        if pages > 1 {
            text.push('\n');
            text += &self.messages.text(
                locale,
                "discord-review-page",
                &[
                    ("page".to_string(), (page + 1).to_string()),
                    ("pages".to_string(), pages.to_string()),
                ]
                .into(),
            );
        }
        text
    }

    /// One page of the review's buttons as Discord components (see [`page_buttons`]).
    fn page_rows(
        &self,
        key: &SessionKey,
        locale: &str,
        buttons: &[Vec<Button>],
        page: usize,
    ) -> (Vec<CreateActionRow>, usize) {
        let (rows, pages) = page_buttons(buttons, page);
        (self.components(key, locale, &rows), pages)
    }

    async fn post_review(
        &self,
        key: &SessionKey,
        locale: &str,
        sheet: String,
        faces: Vec<FaceSummary>,
        buttons: Vec<Vec<Button>>,
    ) {
        let (rows, pages) = self.page_rows(key, locale, &buttons, 0);
        let text = self.review_text(locale, &faces, 0, pages);
        let channel = ChannelId::new(key.chat as u64);
        let mut message = CreateMessage::new().content(text).components(rows);
        if let Some(bytes) = self.service.stored(&sheet) {
            message = message.add_file(CreateAttachment::bytes(bytes, "faces.jpg"));
        }
        match channel.send_message(&self.http, message).await {
            Ok(m) => {
                lock(&self.ui).entry(key.clone()).or_default().review = Some(ShownReview {
                    channel,
                    message: m.id,
                    sheet,
                    buttons,
                    faces,
                });
            }
            Err(e) => tracing::warn!(error = %e, "posting the review failed"),
        }
    }

    async fn show_page(
        &self,
        key: &SessionKey,
        locale: &str,
        page: usize,
        press: Option<&ComponentInteraction>,
    ) {
        let review = lock(&self.ui).get(key).and_then(|ui| ui.review.clone());
        let Some(ShownReview {
            channel,
            message,
            buttons,
            faces,
            ..
        }) = review
        else {
            if let Some(press) = press {
                self.ephemeral(press, self.messages.plain(locale, "chat-stale-button"))
                    .await;
            }
            return;
        };
        let (rows, pages) = self.page_rows(key, locale, &buttons, page);
        let text = self.review_text(locale, &faces, page.min(pages - 1), pages);
        if let Some(press) = press {
            let _ = press
                .create_response(&self.http, CreateInteractionResponse::Acknowledge)
                .await;
        }
        if let Err(e) = channel
            .edit_message(
                &self.http,
                message,
                EditMessage::new().content(text).components(rows),
            )
            .await
        {
            tracing::warn!(error = %e, "editing the review failed");
        }
    }

    async fn progress(&self, key: &SessionKey, text: String, force: bool) {
        let current = lock(&self.ui).get(key).and_then(|ui| ui.progress.clone());
        match current {
            Some((_, _, shown)) if shown == text => {}
            Some((_, at, _)) if !force && at.elapsed() < Duration::from_millis(900) => {}
            Some((deferred, _, _)) if deferred.alive() => {
                let edit = EditInteractionResponse::new().content(text.clone());
                if let Err(e) = edit.execute(&*self.http, &deferred.token).await {
                    tracing::debug!(error = %e, "progress edit failed");
                }
                if let Some(ui) = lock(&self.ui).get_mut(key) {
                    ui.progress = Some((deferred, Instant::now(), text));
                }
            }
            // No live response to edit (a restart, or a long render): progress is not posted
            // as new messages, only the video is.
            _ => {}
        }
    }

    async fn send_video(
        &self,
        key: &SessionKey,
        locale: &str,
        video: &str,
        mp4: bool,
        shrunk: Option<u32>,
    ) {
        let Some(bytes) = self.service.stored(video) else {
            self.say(key, self.messages.plain(locale, "chat-trouble"), Vec::new())
                .await;
            return;
        };
        let name = if mp4 {
            "timelapse.mp4"
        } else {
            "timelapse.gif"
        };
        let mut text = self.messages.plain(locale, "chat-done");
        if let Some(size) = shrunk {
            text.push('\n');
            text += &self.messages.text(
                locale,
                "chat-video-shrunk",
                &[("size".to_string(), size.to_string())].into(),
            );
        }
        let progress = lock(&self.ui)
            .get_mut(key)
            .and_then(|ui| ui.progress.take())
            .map(|p| p.0)
            .filter(Deferred::alive);
        if let Some(deferred) = progress {
            let edit = EditInteractionResponse::new()
                .content(text.clone())
                .new_attachment(CreateAttachment::bytes(bytes.clone(), name));
            match edit.execute(&*self.http, &deferred.token).await {
                Ok(_) => return,
                Err(e) => tracing::warn!(error = %e, "attaching the video failed; posting it"),
            }
        }
        let channel = ChannelId::new(key.chat as u64);
        let message = CreateMessage::new()
            .content(text)
            .add_file(CreateAttachment::bytes(bytes, name));
        if let Err(e) = channel.send_message(&self.http, message).await {
            tracing::warn!(error = %e, "posting the video failed");
        }
    }
}

/// One page of the review's buttons: up to four rows of face buttons, then the controls (the
/// last row), with a "more" button when there are more pages. Discord allows five rows of
/// five. Returns the rows and the number of pages.
fn page_buttons(buttons: &[Vec<Button>], page: usize) -> (Vec<Vec<Button>>, usize) {
    let (controls, faces) = match buttons.split_last() {
        Some((c, f)) => (c.clone(), f),
        None => (Vec::new(), &[][..]),
    };
    let pages = faces.len().div_ceil(FACE_ROWS_PER_PAGE).max(1);
    let page = page.min(pages - 1);
    let mut rows: Vec<Vec<Button>> = faces
        .iter()
        .skip(page * FACE_ROWS_PER_PAGE)
        .take(FACE_ROWS_PER_PAGE)
        .cloned()
        .collect();
    let mut last = controls;
    if pages > 1 {
        last.push(Button {
            key: "discord-button-more".into(),
            args: BTreeMap::new(),
            data: format!("page:{}", (page + 1) % pages),
        });
    }
    rows.push(last);
    (rows, pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn button(data: &str) -> Button {
        Button {
            key: "k".into(),
            args: BTreeMap::new(),
            data: data.into(),
        }
    }

    #[test]
    fn more_than_four_rows_of_face_buttons_are_paged() {
        // 27 faces in rows of five (6 rows), then the controls.
        let mut rows: Vec<Vec<Button>> = (0..27)
            .collect::<Vec<_>>()
            .chunks(5)
            .map(|c| c.iter().map(|n| button(&format!("keep:{n}"))).collect())
            .collect();
        rows.push(vec![
            button("fix-age"),
            button("set:show"),
            button("render"),
        ]);
        let (first, pages) = page_buttons(&rows, 0);
        assert_eq!(pages, 2);
        assert_eq!(first.len(), 5, "four face rows and the controls");
        assert!(first.iter().all(|r| r.len() <= 5));
        assert_eq!(first[4].last().map(|b| b.data.as_str()), Some("page:1"));
        let (second, _) = page_buttons(&rows, 1);
        assert_eq!(second.len(), 3);
        assert_eq!(second[0][0].data, "keep:20");
        assert_eq!(second[2].last().map(|b| b.data.as_str()), Some("page:0"));
        // Few faces: one page, no paging button.
        let (only, pages) = page_buttons(&rows[4..], 0);
        assert_eq!((only.len(), pages), (3, 1));
        assert_eq!(only[2].len(), 3);
    }
}
