//! `lifelapse worker`: run the cluster's analysis and render jobs.

use super::common::{failed, Failure};
use lifelapse::config::Config;

pub fn run(config: Config) -> Result<(), Failure> {
    lifelapse::chat::worker::run(config).map_err(failed)
}
