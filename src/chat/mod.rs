//! The chat service: the platform-neutral conversation state machine, the render queue, the
//! jobs that carry out the conversation's actions, the service that runs them and keeps
//! sessions in the store, the locale messages, and the platform adapters, which only
//! translate between platform updates and these values.

pub mod buttons;
pub mod conversation;
pub mod discord;
pub mod i18n;
pub mod intake;
pub mod jobs;
pub mod queue;
pub mod remote;
pub mod serve;
pub mod service;
pub mod telegram;
pub mod turns;
pub mod worker;

/// Locks a mutex, taking it over if a panicked job poisoned it: one failed job must not take
/// the chat service down with it.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
