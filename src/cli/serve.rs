//! `lifelapse serve`: run the chat bots.

use super::common::{failed, Failure};
use lifelapse::config::Config;

pub fn run(config: Config) -> Result<(), Failure> {
    lifelapse::chat::serve::serve(config, lifelapse::config::Secrets::from_env()).map_err(failed)
}
