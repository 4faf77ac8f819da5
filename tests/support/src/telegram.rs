//! A Telegram Bot API stand-in on 127.0.0.1 for the tests and the chat benchmark: it serves
//! the methods the bot calls (getMe, getUpdates with long polling, getFile and file downloads,
//! sendMessage, sendPhoto, sendAnimation, sendDocument, editMessageText, editMessageCaption,
//! answerCallbackQuery), queues the updates a test scripts, and records every call.
//! Method names are matched case-insensitively (clients capitalise them differently).

use crate::http::{FakeServer, Reply, Request};
use crate::recorder::Recorder;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One Bot API call the bot made.
#[derive(Debug, Clone)]
pub struct Call {
    /// Lowercased method name ("sendmessage").
    pub method: String,
    /// The parameters (JSON body, or the text fields of a multipart form).
    pub params: Value,
    /// The uploaded file of a multipart call: its name and bytes.
    pub file: Option<(String, Vec<u8>)>,
    /// The message id this call's reply carried.
    pub message_id: Option<i64>,
}

impl Call {
    /// The chat it went to (`chat_id` is a number in JSON calls, text in multipart ones).
    pub fn chat(&self) -> Option<i64> {
        let v = &self.params["chat_id"];
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    }

    pub fn text(&self) -> String {
        self.params["text"]
            .as_str()
            .or_else(|| self.params["caption"].as_str())
            .unwrap_or("")
            .to_string()
    }

    /// The inline keyboard's buttons as (label, callback data), row by row.
    pub fn buttons(&self) -> Vec<(String, String)> {
        let markup = match &self.params["reply_markup"] {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            v => v.clone(),
        };
        markup["inline_keyboard"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row.as_array().cloned().unwrap_or_default())
            .map(|b| {
                (
                    b["text"].as_str().unwrap_or("").to_string(),
                    b["callback_data"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

#[derive(Default)]
struct Inner {
    updates: Vec<Value>,
    next_update: i64,
    next_message: i64,
    files: HashMap<String, Vec<u8>>,
    /// Methods answered once with a flood-limit error (429, retry_after 1).
    flood_once: Vec<String>,
}

#[derive(Default)]
struct State {
    inner: Mutex<Inner>,
    /// New updates for getUpdates' long polling.
    changed: Condvar,
    calls: Recorder<Call>,
}

pub struct FakeTelegram {
    pub server: FakeServer,
    pub token: String,
    state: Arc<State>,
}

fn lock(state: &State) -> std::sync::MutexGuard<'_, Inner> {
    state.inner.lock().unwrap_or_else(|e| e.into_inner())
}

/// The form fields and the file of a multipart body.
pub fn multipart(content_type: &str, body: &[u8]) -> (Value, Option<(String, Vec<u8>)>) {
    let mut fields = serde_json::Map::new();
    let mut file = None;
    let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
    else {
        return (Value::Object(fields), None);
    };
    let delimiter = format!("--{}", boundary.trim_matches('"'));
    let parts = split_bytes(body, delimiter.as_bytes());
    for part in parts {
        let Some(split) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]).to_string();
        let mut content = &part[split + 4..];
        if content.ends_with(b"\r\n") {
            content = &content[..content.len() - 2];
        }
        let attr = |name: &str| {
            head.split(';')
                .find_map(|p| p.trim().strip_prefix(&format!("{name}=\"")))
                .and_then(|v| v.split('"').next())
                .map(str::to_string)
        };
        let Some(name) = attr("name") else { continue };
        match attr("filename") {
            Some(filename) => file = Some((filename, content.to_vec())),
            None => {
                fields.insert(
                    name,
                    Value::String(String::from_utf8_lossy(content).into_owned()),
                );
            }
        }
    }
    (Value::Object(fields), file)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split_bytes<'a>(mut body: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(i) = find(body, delimiter) {
        parts.push(&body[..i]);
        body = &body[i + delimiter.len()..];
    }
    parts.push(body);
    parts
}

/// Posts one update to a webhook listener (`host:port`) as Telegram does, with the secret
/// header when given; the answer's status line, or None when nothing answered.
pub fn post_webhook(target: &str, secret: Option<&str>, body: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(target).ok()?;
    let header = secret.map_or(String::new(), |v| {
        format!("X-Telegram-Bot-Api-Secret-Token: {v}\r\n")
    });
    let request = format!(
        "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{header}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer.lines().next().unwrap_or("").to_string())
}

const BOT_ID: i64 = 7_000_000_001;

fn chat_json(chat: i64) -> Value {
    if chat < 0 {
        json!({"id": chat, "type": "group", "title": "Family"})
    } else {
        json!({"id": chat, "type": "private", "first_name": "Pat"})
    }
}

fn user_json(user: i64, language: &str) -> Value {
    json!({"id": user, "is_bot": false, "first_name": format!("User{user}"), "language_code": language})
}

impl FakeTelegram {
    pub fn start(token: &str) -> std::io::Result<Self> {
        let state = Arc::new(State::default());
        lock(&state).next_message = 100;
        let (s, t) = (state.clone(), token.to_string());
        let server = FakeServer::start(move |r| answer(&s, &t, r))?;
        Ok(Self {
            server,
            token: token.to_string(),
            state,
        })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Makes `bytes` downloadable; returns its file id.
    pub fn add_file(&self, bytes: Vec<u8>) -> String {
        let mut inner = lock(&self.state);
        let id = format!("file{}", inner.files.len() + 1);
        inner.files.insert(id.clone(), bytes);
        id
    }

    /// From now on, delivers updates as Telegram does in webhook mode behind a load balancer:
    /// each one posted, in order and one at a time, to the next of `targets` (`host:port`) with
    /// the secret the bot registered, instead of waiting for getUpdates. A post that is not
    /// answered 200 goes to the next target.
    pub fn forward_to_webhooks(&self, targets: Vec<String>, secret: String) {
        let state = Arc::downgrade(&self.state);
        std::thread::spawn(move || {
            let mut turn = 0;
            loop {
                let Some(state) = state.upgrade() else { return };
                let next = {
                    let mut inner = lock(&state);
                    if inner.updates.is_empty() {
                        let _ = state
                            .changed
                            .wait_timeout(inner, Duration::from_millis(200));
                        None
                    } else {
                        Some(inner.updates.remove(0))
                    }
                };
                drop(state);
                let Some(update) = next else { continue };
                let body = update.to_string();
                for _ in 0..100 {
                    let target = &targets[turn % targets.len()];
                    turn += 1;
                    if post_webhook(target, Some(&secret), &body)
                        .is_some_and(|status| status.contains(" 200"))
                    {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        });
    }

    fn push(&self, update: Value) {
        let mut inner = lock(&self.state);
        inner.next_update += 1;
        let mut update = update;
        update["update_id"] = json!(inner.next_update);
        inner.updates.push(update);
        drop(inner);
        self.state.changed.notify_all();
    }

    fn message(&self, chat: i64, user: i64, language: &str, extra: Value) -> Value {
        let id = {
            let mut inner = lock(&self.state);
            inner.next_message += 1;
            inner.next_message
        };
        let mut m = json!({
            "message_id": id,
            "date": 1_764_000_000,
            "chat": chat_json(chat),
            "from": user_json(user, language),
        });
        if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
            m.extend(extra.clone());
        }
        json!({ "message": m })
    }

    pub fn send_text(&self, chat: i64, user: i64, text: &str) {
        self.send_text_in(chat, user, "en", text);
    }

    pub fn send_text_in(&self, chat: i64, user: i64, language: &str, text: &str) {
        let m = self.message(chat, user, language, json!({ "text": text }));
        self.push(m);
    }

    /// A compressed photo (optionally one of an album).
    pub fn send_photo(&self, chat: i64, user: i64, file_id: &str, album: Option<&str>) {
        let size = lock(&self.state).files.get(file_id).map_or(0, Vec::len);
        let mut extra = json!({"photo": [
            {"file_id": format!("{file_id}-thumb"), "file_unique_id": "t", "width": 90, "height": 90, "file_size": 1000},
            {"file_id": file_id, "file_unique_id": file_id, "width": 1280, "height": 960, "file_size": size},
        ]});
        if let Some(album) = album {
            extra["media_group_id"] = json!(album);
        }
        let m = self.message(chat, user, "en", extra);
        self.push(m);
    }

    /// A file (a photo sent as a document keeps its metadata).
    pub fn send_document(
        &self,
        chat: i64,
        user: i64,
        file_id: &str,
        name: &str,
        album: Option<&str>,
    ) {
        let size = lock(&self.state).files.get(file_id).map_or(0, Vec::len);
        let mut extra = json!({"document": {
            "file_id": file_id, "file_unique_id": file_id, "file_name": name,
            "mime_type": "application/octet-stream", "file_size": size,
        }});
        if let Some(album) = album {
            extra["media_group_id"] = json!(album);
        }
        let m = self.message(chat, user, "en", extra);
        self.push(m);
    }

    /// A sticker: a message the bot cannot use.
    pub fn send_sticker(&self, chat: i64, user: i64) {
        let m = self.message(
            chat,
            user,
            "en",
            json!({"sticker": {"file_id": "st1", "file_unique_id": "st1", "type": "regular",
                "width": 512, "height": 512, "is_animated": false, "is_video": false}}),
        );
        self.push(m);
    }

    /// A button press on `message_id` with `data`.
    pub fn press(&self, chat: i64, user: i64, message_id: i64, data: &str) {
        let id = format!("cq{}", lock(&self.state).next_update + 1);
        self.push(json!({"callback_query": {
            "id": id,
            "from": user_json(user, "en"),
            "chat_instance": "ci",
            "data": data,
            "message": {"message_id": message_id, "date": 1_764_000_000, "chat": chat_json(chat), "text": "…"},
        }}));
    }

    /// Any update, as raw JSON (for updates the bot must survive).
    pub fn push_raw(&self, update: Value) {
        self.push(update);
    }

    /// The next call of `method` is refused with a flood-limit error.
    pub fn flood_once(&self, method: &str) {
        lock(&self.state)
            .flood_once
            .push(method.to_ascii_lowercase());
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.all()
    }

    /// Waits until a call (after the first `from`) matches; panics after `timeout`.
    pub fn wait_for(
        &self,
        from: usize,
        timeout: Duration,
        what: &str,
        matches: impl Fn(&Call) -> bool,
    ) -> (usize, Call) {
        self.state.calls.expect(from, timeout, what, matches, |c| {
            format!("{} {:?}", c.method, c.text())
        })
    }

    /// Like [`FakeTelegram::wait_for`]; on time-out, the calls seen since `from`.
    pub fn try_wait_for(
        &self,
        from: usize,
        timeout: Duration,
        matches: impl Fn(&Call) -> bool,
    ) -> Result<(usize, Call), Vec<String>> {
        self.state
            .calls
            .wait_for(from, timeout, matches)
            .map_err(|seen| {
                seen.iter()
                    .map(|c| format!("{} {:?}", c.method, c.text()))
                    .collect()
            })
    }
}

fn ok(result: Value) -> Reply {
    Reply::json(json!({"ok": true, "result": result}))
}

fn answer(state: &State, token: &str, request: &Request) -> Reply {
    let path = request.path.clone();
    if let Some(file) = path.strip_prefix(&format!("/file/bot{token}/")) {
        // teloxide sends the file path as one percent-encoded segment ("photos%2Ffile1").
        let id = file.rsplit('/').next().unwrap_or("");
        let id = id.rsplit("%2F").next().unwrap_or(id);
        return match lock(state).files.get(id) {
            Some(bytes) => Reply::bytes("application/octet-stream", bytes.clone()),
            None => Reply::status(404),
        };
    }
    let Some(method) = path.strip_prefix(&format!("/bot{token}/")) else {
        return Reply::json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    };
    let method = method.to_ascii_lowercase();
    let content_type = request.header("content-type").unwrap_or("").to_string();
    let (params, file) = if content_type.starts_with("multipart/") {
        multipart(&content_type, &request.body)
    } else {
        (
            serde_json::from_slice(&request.body).unwrap_or(Value::Object(Default::default())),
            None,
        )
    };
    if method == "getupdates" {
        let offset = params["offset"].as_i64().unwrap_or(0);
        let timeout = params["timeout"].as_u64().unwrap_or(0).min(5);
        let deadline = Instant::now() + Duration::from_secs(timeout);
        let mut inner = lock(state);
        // Updates before the offset are confirmed: Telegram forgets them.
        inner
            .updates
            .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
        while inner.updates.is_empty() && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            inner = state
                .changed
                .wait_timeout(inner, left.min(Duration::from_millis(200)))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        return ok(Value::Array(inner.updates.clone()));
    }
    let mut inner = lock(state);
    if let Some(i) = inner.flood_once.iter().position(|m| *m == method) {
        inner.flood_once.remove(i);
        return Reply::json(json!({"ok": false, "error_code": 429,
            "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}));
    }
    let chat = params["chat_id"]
        .as_i64()
        .or_else(|| params["chat_id"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    let reply = match method.as_str() {
        "getme" => ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "Lifelapse", "username": "lifelapse_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false,
        })),
        "getfile" => {
            let id = params["file_id"].as_str().unwrap_or("").to_string();
            match inner.files.get(&id) {
                Some(bytes) => ok(json!({"file_id": id, "file_unique_id": id,
                    "file_size": bytes.len(), "file_path": format!("photos/{id}")})),
                None => Reply::json(json!({"ok": false, "error_code": 400,
                    "description": "Bad Request: invalid file_id"})),
            }
        }
        "answercallbackquery" | "deletemessage" | "setwebhook" | "deletewebhook" => ok(json!(true)),
        "sendmessage"
        | "sendphoto"
        | "sendanimation"
        | "senddocument"
        | "editmessagetext"
        | "editmessagecaption"
        | "editmessagereplymarkup" => {
            let id = match params["message_id"]
                .as_i64()
                .or_else(|| params["message_id"].as_str().and_then(|s| s.parse().ok()))
            {
                Some(id) => id,
                None => {
                    inner.next_message += 1;
                    inner.next_message
                }
            };
            let reply = ok(json!({
                "message_id": id, "date": 1_764_000_000, "chat": chat_json(chat),
                "from": {"id": BOT_ID, "is_bot": true, "first_name": "Lifelapse", "username": "lifelapse_bot"},
                "text": params["text"].as_str().or(params["caption"].as_str()).unwrap_or(""),
            }));
            drop(inner);
            state.calls.push(Call {
                method: method.clone(),
                params: params.clone(),
                file: file.clone(),
                message_id: Some(id),
            });
            return reply;
        }
        _ => Reply::json(
            json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"}),
        ),
    };
    drop(inner);
    state.calls.push(Call {
        method,
        params,
        file,
        message_id: None,
    });
    reply
}
