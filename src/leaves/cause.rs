//! An error kept inside a value that must stay `Clone` and comparable (a photo's rejection is
//! kept in the album and reported): the cause is shared, and two causes are equal when they
//! read the same.

use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

/// A cause that is only words (a library that reports no error value).
#[derive(Debug)]
struct Words(String);

impl std::fmt::Display for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Words {}

impl Cause {
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }

    pub fn words(text: impl Into<String>) -> Self {
        Self(Arc::new(Words(text.into())))
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_reads_as_its_error_and_keeps_its_source() {
        let io = std::io::Error::other("disk on fire");
        let cause = Cause::new(io);
        assert_eq!(cause.to_string(), "disk on fire");
        assert_eq!(cause.clone(), cause);
        assert_ne!(cause, Cause::words("fine"));
    }
}
