//! Errors caused by what the user asked for (exit status 2).

use std::fmt;

/// A problem with the user's input: what is wrong and what would be valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserError(pub String);

impl UserError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> UserError {
        UserError(message.into())
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UserError {}

impl From<latency_data::Error> for UserError {
    fn from(error: latency_data::Error) -> Self {
        UserError(error.to_string())
    }
}

impl From<sim_core::ConfigError> for UserError {
    fn from(error: sim_core::ConfigError) -> Self {
        UserError(error.0)
    }
}
