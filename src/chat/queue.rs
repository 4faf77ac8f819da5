//! The render queue the chat service puts jobs in: bounded, one job per session at a time,
//! and fair between sessions (a session's job waits behind every session that came before
//! it, never behind a second job of another session). Positions are what the user is told.
//! Plain data, so it can be stored with the sessions and rebuilt after a restart.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("the queue is full ({capacity} renders waiting)")]
    Full { capacity: usize },
    #[error("this session already has a render queued or running")]
    AlreadyQueued,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Position {
    Running,
    /// Jobs ahead of it that are waiting (0: it starts next).
    Waiting(usize),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderQueue<K> {
    capacity: usize,
    /// Jobs the worker runs at once.
    slots: usize,
    running: Vec<K>,
    waiting: VecDeque<K>,
}

impl<K: PartialEq + Clone> RenderQueue<K> {
    pub fn new(capacity: usize, slots: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            slots: slots.max(1),
            running: Vec::new(),
            waiting: VecDeque::new(),
        }
    }

    /// Queues `session`'s render; says where it stands.
    pub fn push(&mut self, session: K) -> Result<Position, QueueError> {
        if self.running.contains(&session) || self.waiting.contains(&session) {
            return Err(QueueError::AlreadyQueued);
        }
        if self.waiting.len() >= self.capacity {
            return Err(QueueError::Full {
                capacity: self.capacity,
            });
        }
        self.waiting.push_back(session.clone());
        Ok(self.position(&session).unwrap_or(Position::Waiting(0)))
    }

    /// The next job to start, when a slot is free.
    pub fn start_next(&mut self) -> Option<K> {
        if self.running.len() >= self.slots {
            return None;
        }
        let next = self.waiting.pop_front()?;
        self.running.push(next.clone());
        Some(next)
    }

    /// A job finished, failed or was cancelled: its slot or place is freed.
    pub fn remove(&mut self, session: &K) {
        self.running.retain(|k| k != session);
        self.waiting.retain(|k| k != session);
    }

    pub fn position(&self, session: &K) -> Option<Position> {
        if self.running.contains(session) {
            return Some(Position::Running);
        }
        self.waiting
            .iter()
            .position(|k| k == session)
            .map(Position::Waiting)
    }

    /// After a restart: jobs that were running go back to the front, in their order, so that
    /// they run again first.
    pub fn requeue_running(&mut self) {
        for k in self.running.drain(..).rev() {
            self.waiting.push_front(k);
        }
    }

    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_job_per_session_in_arrival_order_within_capacity() {
        let mut q = RenderQueue::new(3, 1);
        assert_eq!(q.push("a"), Ok(Position::Waiting(0)));
        assert_eq!(q.push("b"), Ok(Position::Waiting(1)));
        assert_eq!(q.push("a"), Err(QueueError::AlreadyQueued));
        assert_eq!(q.start_next(), Some("a"));
        assert_eq!(q.start_next(), None, "one slot");
        assert_eq!(q.position(&"a"), Some(Position::Running));
        assert_eq!(q.push("a"), Err(QueueError::AlreadyQueued));
        assert_eq!(q.push("c"), Ok(Position::Waiting(1)));
        assert_eq!(q.push("d"), Ok(Position::Waiting(2)));
        assert_eq!(q.push("e"), Err(QueueError::Full { capacity: 3 }));
        q.remove(&"a");
        assert_eq!(q.start_next(), Some("b"));
        assert_eq!(q.position(&"d"), Some(Position::Waiting(1)));
        q.remove(&"c");
        assert_eq!(q.position(&"d"), Some(Position::Waiting(0)));
    }

    #[test]
    fn interrupted_jobs_run_again_first_after_a_restart() {
        let mut q = RenderQueue::new(10, 2);
        for k in ["a", "b", "c"] {
            q.push(k).unwrap();
        }
        q.start_next();
        q.start_next();
        let stored = serde_json::to_string(&q).unwrap();
        let mut back: RenderQueue<String> = serde_json::from_str(&stored).unwrap();
        back.requeue_running();
        assert_eq!(back.start_next().as_deref(), Some("a"));
        assert_eq!(back.start_next().as_deref(), Some("b"));
        assert_eq!(back.position(&"c".to_string()), Some(Position::Waiting(0)));
    }
}
