//! `lifelapse serve`: run the chat bots.

use super::common::{exit, fail, Failure};
use lifelapse::config::Config;

pub fn run(config: Config) -> Result<(), Failure> {
    use lifelapse::chat::serve::{serve, ServeError};
    serve(config, lifelapse::config::Secrets::from_env()).map_err(|e| {
        let code = match e {
            ServeError::NoPlatform | ServeError::Metrics(..) => exit::USAGE,
            _ => exit::FAILURE,
        };
        fail(code)(e.into())
    })
}
