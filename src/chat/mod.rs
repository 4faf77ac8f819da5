//! The chat service's platform-neutral parts: the conversation state machine and the render
//! queue. The session store is `crate::store`; the platform adapters (Telegram, Discord) are
//! to come and will only translate between platform updates and these values.

pub mod conversation;
pub mod queue;
