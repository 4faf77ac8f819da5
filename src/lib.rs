//! lifelapse: photos of one person in, a facial time-lapse of them growing up out.
//!
//! Data flows one way through modules with one job each:
//! `album` (bytes → photos) → `face` (photos → faces) → `select` (who is in, ages, order) →
//! `render` (the one render path: `lapse`'s timeline and renderers, frames → `video`).
//! The CLI, the chat bots (`chat`), `eval` and `bench` drive the same functions. Beyond one
//! machine, `cluster` (NATS JetStream) carries the chat's sessions (`store::nats`) and its jobs
//! (`chat::remote`, `chat::worker`).

pub mod album;
pub mod bench;
pub mod chain;
pub mod chat;
pub mod cluster;
pub mod config;
pub mod crawl;
pub mod eval;
pub mod face;
pub mod files;
pub mod gan;
pub mod inference;
pub mod lapse;
pub mod leaves;
pub mod nets;
pub mod render;
pub mod select;
pub mod sheet;
pub mod store;
pub mod video;
