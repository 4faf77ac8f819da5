//! The chat service's platform-neutral part: the conversation state machine. Platform
//! adapters (Telegram, Discord), the session store and the job queue build on it.

pub mod conversation;
