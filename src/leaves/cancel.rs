//! Cancellation shared by a job's owner (a chat, a CLI run) and the code doing the work.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A flag that cancels a job at its next check (a batch boundary, a frame).
#[derive(Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
