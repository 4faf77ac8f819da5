//! An error and its causes on one line, for logs: library errors carry their cause as a
//! `source`, and a log line should show all of it.

use std::fmt;

/// Displays `error: cause: cause …`. A cause that its error's own message already ends with is
/// not written again (some libraries' errors print their source and also return it).
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            let message = e.to_string();
            if !shown.ends_with(&message) {
                write!(f, ": {message}")?;
                shown = message;
            }
            cause = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn every_cause_is_shown() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(Chain(&e).to_string(), "outer: inner");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("a network error: {0}")]
    struct Repeats(#[source] Outer);

    #[test]
    fn a_cause_its_error_already_printed_is_not_repeated() {
        let e = Repeats(Outer(std::io::Error::other("inner")));
        assert_eq!(Chain(&e).to_string(), "a network error: outer: inner");
    }
}
