//! The Telegram bot: turns Bot API updates into conversation events and the service's actions
//! into Bot API calls (through teloxide), and decides nothing itself.
//!
//! - Long polling; the last handled update id is kept in the store, so a restart neither
//!   repeats nor skips an update.
//! - Photos are downloaded when they arrive and kept in the store by content hash, so jobs
//!   never depend on Telegram's file ids (or on Telegram being reachable).
//! - Button data carries the session owner's id, so a button in a group chat finds its
//!   session; the conversation checks that the presser owns it, so forged data gains nothing.
//! - Flood limits: a `retry_after` answer is waited out and the call repeated; progress edits
//!   are at most about one a second per chat.

use super::conversation::reply_with as reply;
use super::conversation::{Action, Button, Command, Event, PhotoRef};
use super::i18n::Messages;
use super::intake;
use super::jobs::STORED;
use super::lock;
use super::service::{Outgoing, Service};
use super::turns::Turns;
use crate::store::SessionKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::{
    CallbackQueryId, FileId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MessageId,
    UpdateKind,
};
use teloxide::RequestError;

pub const PLATFORM: &str = "telegram";

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("Telegram API URL {0:?} is not a valid URL")]
    Url(String),
    #[error("the Telegram bot token was refused or the Bot API is unreachable")]
    Connect(#[source] RequestError),
    #[error("the bot's messages")]
    Messages(#[from] crate::chat::i18n::I18nError),
    #[error("a store task stopped")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("setting the webhook")]
    SetWebhook(#[source] RequestError),
    /// tiny_http gives its bind error boxed; it is kept as the source.
    #[error("webhook server on {listen}")]
    WebhookServer {
        listen: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the webhook server stopped")]
    WebhookStopped,
}

pub struct TelegramOptions {
    pub token: crate::config::Secret,
    pub api_url: String,
    pub poll_timeout_s: u32,
    /// Webhook mode: the public URL and the local address; None: long polling.
    pub webhook: Option<(String, String)>,
    pub max_upload_bytes: u64,
    /// Largest photo file taken, in bytes.
    pub max_photo_bytes: u64,
}

impl TelegramOptions {
    pub fn from_config(config: &crate::config::Config, token: crate::config::Secret) -> Self {
        Self {
            token,
            api_url: config.telegram.api_url.clone(),
            poll_timeout_s: config.telegram.poll_timeout_s,
            webhook: (!config.telegram.webhook_url.is_empty()).then(|| {
                (
                    config.telegram.webhook_url.clone(),
                    config.telegram.webhook_listen.clone(),
                )
            }),
            max_upload_bytes: (config.telegram.max_upload_mb * 1e6) as u64,
            max_photo_bytes: config.album.max_file_mb.saturating_mul(1_000_000),
        }
    }
}

/// Messages the bot keeps editing, per session.
#[derive(Default)]
struct SessionUi {
    /// The review message and the contact sheet it shows.
    review: Option<(MessageId, String)>,
    /// The progress message, when it was last edited, and its text.
    progress: Option<(MessageId, Instant, String)>,
}

struct Adapter {
    bot: Bot,
    service: Arc<Service>,
    messages: Messages,
    ui: Mutex<HashMap<SessionKey, SessionUi>>,
    /// A session's actions (from a background job's outbox and from the user's updates) reach
    /// Telegram in the order the conversation made them.
    turns: Turns,
    username: String,
    max_photo_bytes: u64,
}

/// Runs the bot until `shutdown` resolves.
pub async fn run(
    service: Arc<Service>,
    options: TelegramOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), TelegramError> {
    let url = url::Url::parse(&options.api_url)
        .map_err(|_| TelegramError::Url(options.api_url.clone()))?;
    let bot = Bot::new(options.token.expose()).set_api_url(url);
    let me = with_retries(|| bot.get_me().send())
        .await
        .map_err(TelegramError::Connect)?;
    let username = me.user.username.clone().unwrap_or_default();
    tracing::info!(bot = %username, "Telegram bot connected");
    let messages = Messages::load()?;
    let adapter = Arc::new(Adapter {
        bot,
        service: service.clone(),
        messages,
        ui: Mutex::new(HashMap::new()),
        turns: Turns::default(),
        username,
        max_photo_bytes: options.max_photo_bytes,
    });
    let (s, limit) = (service.clone(), options.max_upload_bytes);
    let outbox = tokio::task::spawn_blocking(move || s.connect(PLATFORM, limit)).await??;
    let sender = tokio::spawn(adapter.clone().deliver(outbox));
    let updates = match &options.webhook {
        Some((url, listen)) => {
            let secret = webhook_secret(&options.token);
            let url = url::Url::parse(url).map_err(|_| TelegramError::Url(url.clone()))?;
            let receiver = webhook_server(listen, secret.clone())?;
            with_retries(|| {
                adapter
                    .bot
                    .set_webhook(url.clone())
                    .secret_token(secret.clone())
                    .send()
            })
            .await
            .map_err(TelegramError::SetWebhook)?;
            tracing::info!(%listen, "receiving Telegram updates by webhook");
            Updates::Webhook(receiver)
        }
        None => {
            // getUpdates is refused while a webhook is set (from an earlier run in that mode).
            with_retries(|| adapter.bot.delete_webhook().send())
                .await
                .map_err(TelegramError::Connect)?;
            Updates::Polling(options.poll_timeout_s)
        }
    };
    tokio::select! {
        result = adapter.clone().poll(updates) => {
            sender.abort();
            result
        }
        () = shutdown => {
            sender.abort();
            Ok(())
        }
    }
}

/// Where updates come from.
enum Updates {
    /// getUpdates with this long-poll wait.
    Polling(u32),
    /// Updates Telegram posted to the webhook.
    Webhook(tokio::sync::mpsc::UnboundedReceiver<teloxide::types::Update>),
}

/// The webhook's secret: derived from the bot token, so it is stable across restarts and
/// unguessable without the token (Telegram sends it back in a header with every update).
fn webhook_secret(token: &crate::config::Secret) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("lifelapse-webhook:{}", token.expose()));
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Receives Telegram's webhook posts on `listen` (a thread of its own) and passes on the
/// updates that carry the secret.
fn webhook_server(
    listen: &str,
    secret: String,
) -> Result<tokio::sync::mpsc::UnboundedReceiver<teloxide::types::Update>, TelegramError> {
    let server =
        tiny_http::Server::http(listen).map_err(|source| TelegramError::WebhookServer {
            listen: listen.to_string(),
            source,
        })?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let authorised = request.headers().iter().any(|h| {
                h.field.equiv("X-Telegram-Bot-Api-Secret-Token") && h.value.as_str() == secret
            });
            let mut body = Vec::new();
            let read = std::io::Read::read_to_end(request.as_reader(), &mut body);
            let status = match (authorised, request.method(), read) {
                (false, _, _) => 401,
                (true, tiny_http::Method::Post, Ok(_)) => {
                    match serde_json::from_slice::<teloxide::types::Update>(&body) {
                        Ok(update) => {
                            let _ = tx.send(update);
                            200
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "a webhook post is not an update");
                            400
                        }
                    }
                }
                _ => 405,
            };
            let _ = request.respond(tiny_http::Response::empty(status));
        }
    });
    Ok(rx)
}

/// Calls the Bot API, waiting out flood limits and retrying brief network failures.
async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, RequestError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RequestError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Err(RequestError::RetryAfter(wait)) if attempt <= 5 => {
                tracing::info!(seconds = wait.seconds(), "Telegram flood limit; waiting");
                tokio::time::sleep(wait.duration()).await;
            }
            Err(RequestError::Network(e)) if attempt <= 3 => {
                tracing::warn!(error = %e, "Telegram unreachable; retrying");
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
            }
            other => return other,
        }
    }
}

/// Parses a command message ("/timelapse@bot Ada Lovelace"); None when it is not a command or
/// is addressed to another bot.
fn parse_command(text: &str, username: &str) -> Option<Command> {
    let text = text.trim();
    let rest = text.strip_prefix('/')?;
    let (word, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let (name, addressee) = word.split_once('@').unwrap_or((word, ""));
    if !addressee.is_empty() && !addressee.eq_ignore_ascii_case(username) {
        return None;
    }
    let args = args.trim();
    Some(match name.to_ascii_lowercase().as_str() {
        "start" => Command::Start,
        "help" => Command::Help,
        "timelapse" => Command::Timelapse((!args.is_empty()).then(|| args.to_string())),
        "cancel" => Command::Cancel,
        "settings" => Command::Settings,
        "forget" => Command::Forget,
        _ => Command::Unknown(format!("/{name}")),
    })
}

impl Adapter {
    fn key(&self, chat: ChatId, user: UserId) -> SessionKey {
        SessionKey {
            platform: PLATFORM.into(),
            chat: chat.0,
            user: user.0 as i64,
        }
    }

    /// The next updates: a long poll, or what the webhook received.
    async fn next_updates(
        &self,
        source: &mut Updates,
        offset: i64,
    ) -> Result<Vec<teloxide::types::Update>, TelegramError> {
        match source {
            Updates::Webhook(rx) => match rx.recv().await {
                Some(update) => Ok(vec![update]),
                None => Err(TelegramError::WebhookStopped),
            },
            Updates::Polling(timeout_s) => loop {
                match self
                    .bot
                    .get_updates()
                    .offset(offset as i32)
                    .timeout(*timeout_s)
                    .send()
                    .await
                {
                    Ok(u) => return Ok(u),
                    Err(RequestError::RetryAfter(wait)) => {
                        tokio::time::sleep(wait.duration()).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "getUpdates failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            },
        }
    }

    async fn poll(self: Arc<Self>, mut source: Updates) -> Result<(), TelegramError> {
        let store_cursor = {
            let service = self.service.clone();
            tokio::task::spawn_blocking(move || service.store().cursor(PLATFORM)).await??
        };
        let mut last = store_cursor.unwrap_or(0);
        loop {
            let updates = self.next_updates(&mut source, last + 1).await?;
            for update in updates {
                let id = update.id.0 as i64;
                if id <= last {
                    continue;
                }
                self.update(update).await;
                last = id;
                let service = self.service.clone();
                let saved =
                    tokio::task::spawn_blocking(move || service.store().set_cursor(PLATFORM, id))
                        .await;
                if !matches!(saved, Ok(Ok(()))) {
                    tracing::error!("could not save the update cursor");
                }
            }
        }
    }

    async fn update(&self, update: teloxide::types::Update) {
        match update.kind {
            UpdateKind::Message(message) => self.message(message).await,
            UpdateKind::CallbackQuery(query) => self.callback(query).await,
            UpdateKind::Error(value) => {
                // Only the shape, never the contents: it may hold a user's text.
                tracing::warn!(
                    fields = ?value.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()),
                    "an update this bot cannot read was skipped"
                );
            }
            _ => {}
        }
    }

    async fn message(&self, message: Message) {
        let Some(from) = message.from.clone() else {
            return;
        };
        if from.is_bot {
            return;
        }
        let chat = message.chat.id;
        let key = self.key(chat, from.id);
        let locale = self
            .messages
            .locale_for(from.language_code.as_deref())
            .to_string();
        let event = if let Some(text) = message.text() {
            match parse_command(text, &self.username) {
                Some(command) => Event::Command {
                    user: key.user,
                    command,
                },
                None if text.trim_start().starts_with('/') => return,
                None => Event::Text {
                    user: key.user,
                    text: text.to_string(),
                },
            }
        } else if let Some(sizes) = message.photo() {
            let Some(largest) = sizes.iter().max_by_key(|s| s.width * s.height) else {
                return;
            };
            match self.fetch(&key, &largest.file.id, largest.file.size).await {
                Ok(Some(hash)) => Event::Photo {
                    user: key.user,
                    photo: PhotoRef {
                        file_id: format!("{STORED}{hash}"),
                        as_file: false,
                        age: None,
                    },
                    album: message.media_group_id().map(|g| g.0.clone()),
                },
                Ok(None) => Event::NotAnImage { user: key.user },
                Err(reply) => return self.perform(&key, &locale, reply).await,
            }
        } else if let Some(doc) = message.document() {
            match self.fetch(&key, &doc.file.id, doc.file.size).await {
                Ok(Some(hash)) => Event::Photo {
                    user: key.user,
                    photo: PhotoRef {
                        file_id: format!("{STORED}{hash}"),
                        as_file: true,
                        age: None,
                    },
                    album: message.media_group_id().map(|g| g.0.clone()),
                },
                Ok(None) => Event::NotAnImage { user: key.user },
                Err(reply) => return self.perform(&key, &locale, reply).await,
            }
        } else if message.chat.is_private() {
            // Stickers, voice, locations…: said in private chats; in groups other members'
            // messages are none of the bot's business.
            return self
                .perform(&key, &locale, reply("chat-unsupported", &[]))
                .await;
        } else {
            return;
        };
        if let Some((locale, actions)) = self.service.handle_async(&key, Some(locale), event).await
        {
            for action in actions {
                self.perform(&key, &locale, action).await;
            }
        }
    }

    /// Downloads a photo into the store: its hash, or None when the bytes are not an image
    /// this program reads, or the message to send when it could not be fetched.
    async fn fetch(
        &self,
        key: &SessionKey,
        file: &FileId,
        size: u32,
    ) -> Result<Option<String>, Action> {
        if let Some(refusal) = intake::too_large(size as u64, self.max_photo_bytes) {
            return Err(refusal);
        }
        // The whole cause goes to the log; the user gets the locale's words.
        let failed = |e: &(dyn std::error::Error + 'static)| {
            tracing::warn!(error = %crate::chain::Chain(e), "downloading a photo from Telegram failed");
            reply("chat-download-failed", &[])
        };
        let file = with_retries(|| self.bot.get_file(file.clone()).send())
            .await
            .map_err(|e| failed(&e))?;
        let mut bytes: Vec<u8> = Vec::with_capacity(file.meta.size as usize);
        self.bot
            .download_file(&file.path, &mut bytes)
            .await
            .map_err(|e| failed(&e))?;
        intake::keep(&self.service, key, bytes, self.max_photo_bytes).await
    }

    async fn callback(&self, query: CallbackQuery) {
        let chat = query.message.as_ref().map(|m| m.chat().id);
        let data = query.data.clone().unwrap_or_default();
        let presser = query.from.id.0 as i64;
        let locale = self
            .messages
            .locale_for(query.from.language_code.as_deref())
            .to_string();
        // "OWNER|DATA": the session the button belongs to. Anything else is stale or forged.
        let parsed = super::buttons::owner_and_data(&data).map(|(o, d)| (o, d.to_string()));
        let (Some(chat), Some((owner, data))) = (chat, parsed) else {
            self.answer(
                &query.id,
                Some(self.messages.plain(&locale, "chat-stale-button")),
            )
            .await;
            return;
        };
        let key = SessionKey {
            platform: PLATFORM.into(),
            chat: chat.0,
            user: owner,
        };
        // The presser's language for this answer; the session keeps its owner's.
        let event = Event::Button {
            user: presser,
            data,
        };
        let owner_locale = if presser == owner {
            Some(locale.clone())
        } else {
            None
        };
        let handled = self.service.handle_async(&key, owner_locale, event).await;
        let Some((session_locale, actions)) = handled else {
            self.answer(
                &query.id,
                Some(self.messages.plain(&locale, "chat-trouble")),
            )
            .await;
            return;
        };
        let mut answered = false;
        for action in actions {
            if let Action::Notice { key: text_key, .. } = &action {
                let text = self.messages.plain(&locale, text_key);
                self.answer(&query.id, Some(text)).await;
                answered = true;
                continue;
            }
            self.perform(&key, &session_locale, action).await;
        }
        if !answered {
            self.answer(&query.id, None).await;
        }
    }

    async fn answer(&self, id: &CallbackQueryId, text: Option<String>) {
        let result = with_retries(|| {
            let mut request = self.bot.answer_callback_query(id.clone());
            if let Some(t) = &text {
                request = request.text(t.clone());
            }
            request.send()
        })
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "answerCallbackQuery failed");
        }
    }

    /// Delivers the service's messages that follow jobs.
    async fn deliver(self: Arc<Self>, mut outbox: tokio::sync::mpsc::UnboundedReceiver<Outgoing>) {
        while let Some(out) = outbox.recv().await {
            for action in out.actions {
                self.perform(&out.key, &out.locale, action).await;
            }
        }
    }

    fn keyboard(
        &self,
        key: &SessionKey,
        locale: &str,
        rows: &[Vec<Button>],
    ) -> InlineKeyboardMarkup {
        InlineKeyboardMarkup::new(rows.iter().map(|row| {
            row.iter()
                .map(|b| {
                    InlineKeyboardButton::callback(
                        self.messages.text(locale, &b.key, &b.args),
                        super::buttons::with_owner(key.user, &b.data),
                    )
                })
                .collect::<Vec<_>>()
        }))
    }

    async fn send_text(
        &self,
        chat: ChatId,
        text: String,
        markup: Option<InlineKeyboardMarkup>,
    ) -> Option<MessageId> {
        let result = with_retries(|| {
            let mut request = self.bot.send_message(chat, text.clone());
            if let Some(m) = &markup {
                request = request.reply_markup(m.clone());
            }
            request.send()
        })
        .await;
        match result {
            Ok(m) => Some(m.id),
            Err(e) => {
                tracing::warn!(error = %e, "sendMessage failed");
                None
            }
        }
    }

    /// Carries out one action in the session's chat.
    async fn perform(&self, key: &SessionKey, locale: &str, action: Action) {
        let _turn = self.turns.take(key).await;
        let chat = ChatId(key.chat);
        match action {
            Action::Reply {
                key: text_key,
                args,
            } => {
                let text = self.messages.text(locale, &text_key, &args);
                self.send_text(chat, text, None).await;
            }
            Action::Notice { key: text_key, .. } => {
                let text = self.messages.plain(locale, &text_key);
                self.send_text(chat, text, None).await;
            }
            Action::Ask {
                key: text_key,
                args,
                buttons,
            } => {
                let text = self.messages.text(locale, &text_key, &args);
                let markup = self.keyboard(key, locale, &buttons);
                self.send_text(chat, text, Some(markup)).await;
            }
            Action::ShowReview {
                sheet,
                faces,
                buttons,
            } => self.show_review(key, locale, sheet, &faces, &buttons).await,
            Action::Queued { ahead } => {
                let text = self.messages.text(
                    locale,
                    "chat-queued",
                    &[("ahead".to_string(), ahead.to_string())].into(),
                );
                self.progress(key, text, true).await;
            }
            Action::Progress { percent } => {
                let text = self.messages.text(
                    locale,
                    "chat-progress",
                    &[("percent".to_string(), percent.to_string())].into(),
                );
                self.progress(key, text, false).await;
            }
            Action::SendVideo { video, mp4, shrunk } => {
                self.send_video(key, locale, &video, mp4, shrunk).await
            }
            // Work, carried out by the service.
            Action::StartTimer { .. }
            | Action::Analyze { .. }
            | Action::Crawl { .. }
            | Action::Render { .. }
            | Action::CancelJob
            | Action::DeleteData => {}
        }
    }

    async fn show_review(
        &self,
        key: &SessionKey,
        locale: &str,
        sheet: String,
        faces: &[super::conversation::FaceSummary],
        buttons: &[Vec<Button>],
    ) {
        let chat = ChatId(key.chat);
        let caption = self.messages.review(locale, faces);
        let markup = self.keyboard(key, locale, buttons);
        let shown = lock(&self.ui)
            .get(key)
            .and_then(|ui| ui.review.clone())
            .filter(|(_, hash)| *hash == sheet);
        if let Some((message, _)) = shown {
            // The same sheet: only the caption and buttons change.
            let edited = with_retries(|| {
                self.bot
                    .edit_message_caption(chat, message)
                    .caption(caption.clone())
                    .reply_markup(markup.clone())
                    .send()
            })
            .await;
            match edited {
                Ok(_) => return,
                Err(RequestError::Api(teloxide::ApiError::MessageNotModified)) => return,
                Err(e) => tracing::warn!(error = %e, "editing the review failed; sending anew"),
            }
        }
        let Some(bytes) = self.service.stored(&sheet) else {
            self.send_text(chat, caption, Some(markup)).await;
            return;
        };
        let sent = with_retries(|| {
            self.bot
                .send_photo(
                    chat,
                    InputFile::memory(bytes.clone()).file_name("faces.jpg"),
                )
                .caption(caption.clone())
                .reply_markup(markup.clone())
                .send()
        })
        .await;
        match sent {
            Ok(m) => {
                lock(&self.ui).entry(key.clone()).or_default().review = Some((m.id, sheet));
            }
            Err(e) => tracing::warn!(error = %e, "sendPhoto failed"),
        }
    }

    /// Shows `text` in the session's progress message: edited in place, at most about once a
    /// second unless `force`.
    async fn progress(&self, key: &SessionKey, text: String, force: bool) {
        let chat = ChatId(key.chat);
        let current = lock(&self.ui).get(key).and_then(|ui| ui.progress.clone());
        match current {
            Some((_, _, shown)) if shown == text => {}
            Some((_, at, _)) if !force && at.elapsed() < Duration::from_millis(900) => {}
            Some((message, _, _)) => {
                let edited = with_retries(|| {
                    self.bot
                        .edit_message_text(chat, message, text.clone())
                        .send()
                })
                .await;
                if let Err(e) = edited {
                    tracing::debug!(error = %e, "progress edit failed");
                }
                if let Some(ui) = lock(&self.ui).get_mut(key) {
                    ui.progress = Some((message, Instant::now(), text));
                }
            }
            None => {
                if let Some(message) = self.send_text(chat, text.clone(), None).await {
                    lock(&self.ui).entry(key.clone()).or_default().progress =
                        Some((message, Instant::now(), text));
                }
            }
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
        let chat = ChatId(key.chat);
        let progress = lock(&self.ui)
            .get_mut(key)
            .and_then(|ui| ui.progress.take());
        if let Some((message, _, _)) = progress {
            let done = self.messages.plain(locale, "chat-done");
            let _ = with_retries(|| {
                self.bot
                    .edit_message_text(chat, message, done.clone())
                    .send()
            })
            .await;
        }
        let Some(bytes) = self.service.stored(video) else {
            self.send_text(chat, self.messages.plain(locale, "chat-trouble"), None)
                .await;
            return;
        };
        let sent = if mp4 {
            // H.264 without sound: Telegram plays it as an animation, looping.
            with_retries(|| {
                self.bot
                    .send_animation(
                        chat,
                        InputFile::memory(bytes.clone()).file_name("timelapse.mp4"),
                    )
                    .send()
            })
            .await
        } else {
            // As a file, so the GIF stays a GIF (animations are converted to MP4).
            with_retries(|| {
                self.bot
                    .send_document(
                        chat,
                        InputFile::memory(bytes.clone()).file_name("timelapse.gif"),
                    )
                    .send()
            })
            .await
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "sending the video failed");
            self.send_text(chat, self.messages.plain(locale, "chat-trouble"), None)
                .await;
            return;
        }
        if let Some(size) = shrunk {
            let text = self.messages.text(
                locale,
                "chat-video-shrunk",
                &[("size".to_string(), size.to_string())].into(),
            );
            self.send_text(chat, text, None).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_parsed_and_other_bots_commands_ignored() {
        assert_eq!(parse_command("/start", "lapse_bot"), Some(Command::Start));
        assert_eq!(
            parse_command("/timelapse@Lapse_Bot  Ada  Lovelace ", "lapse_bot"),
            Some(Command::Timelapse(Some("Ada  Lovelace".into())))
        );
        assert_eq!(
            parse_command("/timelapse", "lapse_bot"),
            Some(Command::Timelapse(None))
        );
        assert_eq!(parse_command("/start@other_bot", "lapse_bot"), None);
        assert_eq!(
            parse_command("/frobnicate", "lapse_bot"),
            Some(Command::Unknown("/frobnicate".into()))
        );
        assert_eq!(parse_command("hello", "lapse_bot"), None);
    }
}
