//! lifelapse: photos of one person in, a facial time-lapse of them growing up out.
//!
//! Data flows one way through modules with one job each:
//! `album` (bytes → photos) → `lapse` (photos → timeline → frames) → `video` (frames → GIF).
//! The CLI and, later, the chat bots drive the same functions.

pub mod album;
pub mod bench;
pub mod chat;
pub mod config;
pub mod crawl;
pub mod engine;
pub mod eval;
pub mod face;
pub mod files;
pub mod gan;
pub mod lapse;
pub mod nets;
pub mod pipeline;
pub mod render;
pub mod sheet;
pub mod store;
pub mod video;
