//! What a fake was asked, in order, and a way to wait for a call without sleeping.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Calls in the order they came, shared by a fake's server thread and the test.
pub struct Recorder<T> {
    calls: Mutex<Vec<T>>,
    changed: Condvar,
}

impl<T> Default for Recorder<T> {
    fn default() -> Self {
        Self {
            calls: Mutex::new(Vec::new()),
            changed: Condvar::new(),
        }
    }
}

impl<T: Clone> Recorder<T> {
    fn lock(&self) -> MutexGuard<'_, Vec<T>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, call: T) {
        self.lock().push(call);
        self.changed.notify_all();
    }

    pub fn all(&self) -> Vec<T> {
        self.lock().clone()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first call after the first `from` that `matches`, with its index, as soon as it
    /// comes; after `timeout`, the calls seen since `from`.
    pub fn wait_for(
        &self,
        from: usize,
        timeout: Duration,
        matches: impl Fn(&T) -> bool,
    ) -> Result<(usize, T), Vec<T>> {
        let deadline = Instant::now() + timeout;
        let mut calls = self.lock();
        loop {
            if let Some((i, c)) = calls
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, c)| matches(c))
            {
                return Ok((i, c.clone()));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(calls.iter().skip(from).cloned().collect());
            }
            calls = self
                .changed
                .wait_timeout(calls, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// [`Recorder::wait_for`] for a test: panics after `timeout`, naming `what` and listing
    /// the calls seen since `from` as `describe` shows them.
    pub fn expect(
        &self,
        from: usize,
        timeout: Duration,
        what: &str,
        matches: impl Fn(&T) -> bool,
        describe: impl Fn(&T) -> String,
    ) -> (usize, T) {
        self.wait_for(from, timeout, matches)
            .unwrap_or_else(|seen| {
                let seen: Vec<String> = seen.iter().map(describe).collect();
                panic!("timed out waiting for {what}; calls since: {seen:#?}")
            })
    }
}
