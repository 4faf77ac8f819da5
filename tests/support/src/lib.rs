//! Stand-ins for the services lifelapse talks to, on 127.0.0.1, for its tests and its chat and
//! crawl benchmarks: an HTTP server answering with a closure ([`http`]), the Telegram Bot API
//! ([`telegram`]) and Discord's HTTP API and gateway ([`discord`]), and a real `nats-server`
//! ([`nats`]) for the cluster mode. The bot fakes record every
//! call in a [`recorder::Recorder`], which tests wait on instead of sleeping.

pub mod discord;
pub mod http;
pub mod nats;
pub mod recorder;
pub mod telegram;
