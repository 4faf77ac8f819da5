//! The chat service's platform-neutral parts: the conversation state machine, the render
//! queue, and the jobs that carry out the conversation's actions (the name search so far). The
//! session store is `crate::store`; the platform adapters (Telegram, Discord) are to come and
//! will only translate between platform updates and these values.

pub mod conversation;
pub mod jobs;
pub mod queue;
