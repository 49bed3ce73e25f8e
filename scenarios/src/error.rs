//! Errors about user input: each names the file, the line and the key, and
//! says how to fix it. They make `dsim` exit with code 2.

use std::fmt;

/// A problem with a scenario file, an override or a command-line argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub file: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// Dotted key path, e.g. `network.loss`.
    pub key: Option<String>,
    pub message: String,
    /// How to fix it, when there is more to say than the message.
    pub hint: Option<String>,
}

impl InputError {
    pub fn new(file: &str, message: impl Into<String>) -> InputError {
        InputError { file: file.to_string(), line: None, column: None, key: None, message: message.into(), hint: None }
    }

    pub fn at_key(mut self, key: impl Into<String>) -> InputError {
        self.key = Some(key.into());
        self
    }

    pub fn at_line(mut self, line: Option<usize>) -> InputError {
        self.line = line.map(|l| u32::try_from(l).unwrap_or(u32::MAX));
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> InputError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}
