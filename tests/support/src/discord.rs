//! A Discord stand-in on 127.0.0.1: the HTTP API the bot calls (through serenity's proxy
//! setting) and a scripted gateway (WebSocket) that sends READY and whatever interactions and
//! messages a test queues. Every HTTP call is recorded.

use crate::http::{FakeServer, Reply, Request};
use crate::recorder::Recorder;
use crate::telegram::multipart;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const APP: u64 = 800_000_000_000_000_001;
pub const BOT: u64 = 800_000_000_000_000_001;
/// The attachment size limit interactions carry unless a test names another (8 MiB).
const DEFAULT_ATTACHMENT_LIMIT: u64 = 8_388_608;

#[derive(Debug, Clone)]
pub struct DCall {
    pub method: String,
    pub path: String,
    pub json: Value,
    pub files: Vec<(String, Vec<u8>)>,
}

impl DCall {
    pub fn content(&self) -> String {
        self.json["content"].as_str().unwrap_or("").to_string()
    }

    /// Buttons as (label, custom_id).
    pub fn buttons(&self) -> Vec<(String, String)> {
        self.json["components"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
            .map(|b| {
                (
                    b["label"].as_str().unwrap_or("").to_string(),
                    b["custom_id"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    pub fn rows(&self) -> usize {
        self.json["components"].as_array().map_or(0, Vec::len)
    }
}

#[derive(Default)]
struct Inner {
    attachments: HashMap<String, Vec<u8>>,
    next_id: u64,
    /// The gateway connection's outbox (the latest connection).
    gateway: Option<tokio::sync::mpsc::UnboundedSender<Value>>,
    connections: usize,
}

#[derive(Default)]
struct State {
    inner: Mutex<Inner>,
    /// A gateway connection came or went.
    changed: Condvar,
    calls: Recorder<DCall>,
}

fn lock(s: &State) -> std::sync::MutexGuard<'_, Inner> {
    s.inner.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct FakeDiscord {
    pub http: FakeServer,
    state: Arc<State>,
    _runtime: tokio::runtime::Runtime,
    seq: Mutex<u64>,
}

pub fn user_json(id: u64) -> Value {
    json!({"id": id.to_string(), "username": format!("user{id}"), "discriminator": "0",
        "global_name": null, "avatar": null, "bot": id == BOT})
}

fn message_json(id: u64, channel: &str, content: &str, author: u64, attachments: Value) -> Value {
    json!({
        "id": id.to_string(), "channel_id": channel, "author": user_json(author),
        "content": content, "timestamp": "2026-11-26T00:00:00.000000+00:00",
        "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
        "mention_roles": [], "mention_channels": [], "attachments": attachments, "embeds": [],
        "reactions": [], "pinned": false, "type": 0, "flags": 0, "components": [],
        "sticker_items": [], "message_snapshots": [],
    })
}

fn answer(state: &State, ws_port: u16, request: &Request) -> Reply {
    let path = request.path.clone();
    if let Some(name) = path.strip_prefix("/attachments/") {
        return match lock(state).attachments.get(name) {
            Some(b) => Reply::bytes("application/octet-stream", b.clone()),
            None => Reply::status(404),
        };
    }
    let api = path.strip_prefix("/api/v10").unwrap_or(&path).to_string();
    let content_type = request.header("content-type").unwrap_or("").to_string();
    let (json, files) = if content_type.starts_with("multipart/") {
        let (fields, file) = multipart(&content_type, &request.body);
        let payload = fields["payload_json"]
            .as_str()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or(fields);
        (payload, file.into_iter().collect())
    } else {
        (
            serde_json::from_slice(&request.body).unwrap_or(Value::Null),
            Vec::new(),
        )
    };
    let id = {
        let mut inner = lock(state);
        inner.next_id += 1;
        900_000_000_000_000_000 + inner.next_id
    };
    state.calls.push(DCall {
        method: request.method.clone(),
        path: api.clone(),
        json: json.clone(),
        files,
    });
    let segments: Vec<&str> = api.trim_start_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["gateway", "bot"]) | ("GET", ["gateway"]) => Reply::json(json!({
            "url": format!("ws://127.0.0.1:{ws_port}"), "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1},
        })),
        ("GET", ["users", "@me"]) => Reply::json(user_json(BOT)),
        ("PUT", ["applications", _, "commands"]) => Reply::json(json!([])),
        ("POST", ["interactions", _, _, "callback"]) => Reply::status(204),
        (_, ["webhooks", _, _, "messages", _]) | ("POST", ["webhooks", _, _]) => {
            Reply::json(message_json(
                id,
                "1",
                json["content"].as_str().unwrap_or(""),
                BOT,
                json!([]),
            ))
        }
        (_, ["channels", channel, "messages", ..]) => Reply::json(message_json(
            id,
            channel,
            json["content"].as_str().unwrap_or(""),
            BOT,
            json!([]),
        )),
        _ => Reply::json(json!({"message": "404: Not Found", "code": 0})).status_code(404),
    }
}

trait StatusCode {
    fn status_code(self, code: u16) -> Self;
}

impl StatusCode for Reply {
    fn status_code(mut self, code: u16) -> Self {
        self.status = code;
        self
    }
}

async fn gateway(state: Arc<State>, listener: tokio::net::TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            let (mut sink, mut source) = ws.split();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
            {
                let mut inner = lock(&state);
                inner.gateway = Some(tx.clone());
                inner.connections += 1;
            }
            state.changed.notify_all();
            let hello = json!({"op": 10, "d": {"heartbeat_interval": 41250}});
            if sink.send(hello.to_string().into()).await.is_err() {
                return;
            }
            let writer = tokio::spawn(async move {
                while let Some(v) = rx.recv().await {
                    if sink.send(v.to_string().into()).await.is_err() {
                        break;
                    }
                }
            });
            while let Some(Ok(msg)) = source.next().await {
                let Ok(text) = msg.to_text() else { continue };
                let Ok(v) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                match v["op"].as_u64() {
                    Some(1) => {
                        let _ = tx.send(json!({"op": 11}));
                    }
                    Some(2) => {
                        let _ = tx.send(json!({"op": 0, "t": "READY", "s": 1, "d": {
                            "v": 10, "user": user_json(BOT), "guilds": [],
                            "session_id": "session-1",
                            "resume_gateway_url": "ws://127.0.0.1:1",
                            "application": {"id": APP.to_string(), "flags": 0},
                        }}));
                    }
                    _ => {}
                }
            }
            writer.abort();
        });
    }
}

impl FakeDiscord {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind gateway");
        let ws_port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        runtime.spawn(gateway(state.clone(), listener));
        let s = state.clone();
        let http = FakeServer::start(move |r| answer(&s, ws_port, r)).expect("http");
        Self {
            http,
            state,
            _runtime: runtime,
            seq: Mutex::new(1),
        }
    }

    pub fn url(&self) -> String {
        self.http.url()
    }

    pub fn connections(&self) -> usize {
        lock(&self.state).connections
    }

    /// Waits until the gateway has had `n` connections (a reconnect is the second).
    pub fn wait_connections(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut inner = lock(&self.state);
        while inner.connections < n {
            let now = Instant::now();
            assert!(
                now < deadline,
                "the bot made {} of {n} gateway connections",
                inner.connections
            );
            inner = self
                .state
                .changed
                .wait_timeout(inner, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Serves `bytes` as an attachment; returns its JSON (for interactions and messages).
    pub fn attachment(&self, name: &str, bytes: Vec<u8>) -> Value {
        let mut inner = lock(&self.state);
        inner.next_id += 1;
        let id = (700_000_000_000_000_000 + inner.next_id).to_string();
        let size = bytes.len();
        inner.attachments.insert(id.clone(), bytes);
        let url = format!("{}/attachments/{id}", self.http.url());
        json!({"id": id, "filename": name, "size": size, "url": url, "proxy_url": url,
            "content_type": "image/jpeg", "width": 100, "height": 100})
    }

    /// Waits until the gateway has a connection that identified.
    pub fn wait_ready(&self) {
        self.wait_connections(1);
        // The commands are registered on READY.
        self.wait_for(0, Duration::from_secs(60), "command registration", |c| {
            c.method == "PUT" && c.path.ends_with("/commands")
        });
    }

    fn dispatch(&self, event: &str, data: Value) {
        let seq = {
            let mut s = self.seq.lock().unwrap();
            *s += 1;
            *s
        };
        let inner = lock(&self.state);
        let tx = inner.gateway.clone().expect("no gateway connection");
        let _ = tx.send(json!({"op": 0, "t": event, "s": seq, "d": data}));
    }

    /// An INTERACTION_CREATE of `kind` from `user` in `channel`: the fields every interaction
    /// carries, and `fields` (its data, its message).
    fn interaction(
        &self,
        (id, channel, user): (u64, u64, u64),
        kind: u64,
        attachment_limit: u64,
        fields: Value,
    ) {
        let mut event = json!({
            "id": id.to_string(), "application_id": APP.to_string(), "type": kind,
            "token": format!("token-{id}"), "version": 1, "channel_id": channel.to_string(),
            "user": user_json(user), "locale": "en-US", "entitlements": [],
            "attachment_size_limit": attachment_limit, "app_permissions": "0",
        });
        if let (Some(event), Value::Object(fields)) = (event.as_object_mut(), fields) {
            event.extend(fields);
        }
        self.dispatch("INTERACTION_CREATE", event);
    }

    /// `/timelapse` with photos (attachment JSON from [`FakeDiscord::attachment`]).
    pub fn slash(&self, id: u64, channel: u64, user: u64, name: Option<&str>, photos: &[Value]) {
        let mut options = Vec::new();
        let mut resolved = serde_json::Map::new();
        if let Some(name) = name {
            options.push(json!({"name": "name", "type": 3, "value": name}));
        }
        for (i, p) in photos.iter().enumerate() {
            let att = p["id"].as_str().unwrap_or("").to_string();
            options.push(json!({"name": format!("photo{}", i + 1), "type": 11, "value": att}));
            resolved.insert(att, p.clone());
        }
        self.interaction(
            (id, channel, user),
            2,
            DEFAULT_ATTACHMENT_LIMIT,
            json!({"data": {"id": "600000000000000001", "name": "timelapse", "type": 1,
                "options": options, "resolved": {"attachments": resolved}}}),
        );
    }

    /// The message command "Make a time-lapse" on a message holding `photos`.
    pub fn message_command(&self, id: u64, channel: u64, user: u64, target: u64, photos: &[Value]) {
        let message = message_json(
            target,
            &channel.to_string(),
            "",
            user,
            Value::Array(photos.to_vec()),
        );
        self.interaction(
            (id, channel, user),
            2,
            DEFAULT_ATTACHMENT_LIMIT,
            json!({"data": {"id": "600000000000000002", "name": "Make a time-lapse", "type": 3,
                "target_id": target.to_string(),
                "resolved": {"messages": {target.to_string(): message}}}}),
        );
    }

    /// A submitted form with one text field.
    pub fn modal_submit(&self, id: u64, channel: u64, user: u64, custom_id: &str, value: &str) {
        self.interaction(
            (id, channel, user),
            5,
            DEFAULT_ATTACHMENT_LIMIT,
            json!({"data": {"custom_id": custom_id, "components": [{"type": 1, "components": [
                {"type": 4, "custom_id": "age", "value": value}]}]}}),
        );
    }

    /// A button press; `limit` is the interaction's attachment size limit.
    pub fn press(&self, id: u64, channel: u64, user: u64, custom_id: &str, limit: u64) {
        self.interaction(
            (id, channel, user),
            3,
            limit,
            json!({
                "message": message_json(1, &channel.to_string(), "", BOT, json!([])),
                "data": {"custom_id": custom_id, "component_type": 2},
            }),
        );
    }

    /// A message posted in a channel (photos as attachments).
    pub fn post(&self, id: u64, channel: u64, user: u64, content: &str, photos: &[Value]) {
        self.dispatch(
            "MESSAGE_CREATE",
            message_json(
                id,
                &channel.to_string(),
                content,
                user,
                Value::Array(photos.to_vec()),
            ),
        );
    }

    pub fn calls(&self) -> Vec<DCall> {
        self.state.calls.all()
    }

    /// Waits until a call (after the first `from`) matches; panics after `timeout`.
    pub fn wait_for(
        &self,
        from: usize,
        timeout: Duration,
        what: &str,
        matches: impl Fn(&DCall) -> bool,
    ) -> (usize, DCall) {
        self.state.calls.expect(from, timeout, what, matches, |c| {
            format!("{} {} {:?}", c.method, c.path, c.content())
        })
    }
}
