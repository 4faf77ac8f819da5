//! Whose turn it is to talk to a platform, per session. A session's actions come from two
//! places (a background job's outbox, and the handler of the user's own update); holding the
//! session's turn while performing them makes them reach the platform in the order the
//! conversation made them, so an edit never overtakes the post it edits.

use crate::store::SessionKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Turns(Mutex<HashMap<SessionKey, Arc<tokio::sync::Mutex<()>>>>);

impl Turns {
    /// Waits for `key`'s turn; it lasts until the guard is dropped.
    pub async fn take(&self, key: &SessionKey) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = super::lock(&self.0).entry(key.clone()).or_default().clone();
        turn.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user: i64) -> SessionKey {
        SessionKey {
            platform: "test".into(),
            chat: 1,
            user,
        }
    }

    #[tokio::test]
    async fn one_session_waits_for_its_turn_and_others_do_not() {
        let turns = Turns::default();
        let (one, two) = (key(1), key(2));
        let first = turns.take(&one).await;
        // Another session is not held up.
        let _other = turns.take(&two).await;
        // The same session waits until the first turn ends.
        let waiting = turns.take(&one);
        tokio::pin!(waiting);
        assert!(futures_poll_once(waiting.as_mut()).await.is_none());
        drop(first);
        let _second = waiting.await;
    }

    /// Polls a future once: Some(output) when it is ready.
    async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            out = f => Some(out),
            () = std::future::ready(()) => None,
        }
    }
}
