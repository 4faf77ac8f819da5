//! What every adapter does with a photo file from a chat: refuse it when it is over the size
//! limit (before downloading, when the platform says the size, and after), tell images from
//! other files, and keep images in the store by content hash.

use super::conversation::{reply_with, Action};
use super::service::Service;
use crate::store::SessionKey;
use std::sync::Arc;

/// The "file too large" message when `size` is over `limit` bytes.
pub fn too_large(size: u64, limit: u64) -> Option<Action> {
    (size > limit).then(|| {
        reply_with(
            "chat-photo-too-large",
            &[
                ("size-mb", format!("{:.1}", size as f64 / 1e6)),
                ("limit-mb", (limit / 1_000_000).to_string()),
            ],
        )
    })
}

/// Keeps downloaded bytes: their hash, None when they are not an image this program reads, or
/// the message to send instead. The store is written off the async workers.
pub async fn keep(
    service: &Arc<Service>,
    key: &SessionKey,
    bytes: Vec<u8>,
    limit: u64,
) -> Result<Option<String>, Action> {
    if let Some(refusal) = too_large(bytes.len() as u64, limit) {
        return Err(refusal);
    }
    if crate::album::sniff(&bytes).is_none() {
        return Ok(None);
    }
    let (service, key) = (service.clone(), key.clone());
    match tokio::task::spawn_blocking(move || service.store().put_file(&key, &bytes)).await {
        Ok(Ok(hash)) => Ok(Some(hash)),
        other => {
            tracing::error!(?other, "storing a photo failed");
            Err(reply_with("chat-trouble", &[]))
        }
    }
}
