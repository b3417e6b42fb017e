//! The top-level error, its exit code and its hint.
//!
//! Each boundary module has its own `thiserror` enum and implements [`Report`] for it, which
//! says which exit code (DESIGN §2) the error maps to and which command or setting fixes it.
//! `?` turns any such error into [`Error`]; `main` prints it and exits. No I/O here.

use std::fmt;
use std::process::ExitCode;

/// The exit codes of DESIGN §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success, including "closed today" and "already delivered".
    Success = 0,
    /// 1: unexpected failure.
    Failure = 1,
    /// 2: usage error.
    Usage = 2,
    /// 3: login needed (no token, or the refresh token was rejected).
    Login = 3,
    /// 4: invalid configuration.
    Config = 4,
    /// 5: delivery failed for at least one recipient after retries, or scraping failed.
    Delivery = 5,
    /// 130: stopped by Ctrl-C (SIGINT), as shells report it.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// What every module error tells the top level: its exit code and a fix.
///
/// Messages (the `Display` impl) start lowercase, have no trailing period, name the thing
/// (path:line, key, URL, meal, recipient) and never contain a token.
pub trait Report: std::error::Error + Send + Sync + 'static {
    /// The exit code this error ends the process with.
    fn exit(&self) -> Exit {
        Exit::Failure
    }

    /// The exact command or setting that fixes it, if there is one.
    fn hint(&self) -> Option<String> {
        None
    }
}

/// Any error that ends a command.
pub struct Error(Box<dyn Report>);

impl Error {
    /// The exit code for this error.
    pub fn exit(&self) -> Exit {
        self.0.exit()
    }

    /// The hint line, if any.
    pub fn hint(&self) -> Option<String> {
        self.0.hint()
    }

    /// True when a write failed because the reader went away (a closed pipe).
    pub fn is_broken_pipe(&self) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&*self.0);
        while let Some(err) = cause {
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return true;
            }
            cause = err.source();
        }
        false
    }

    /// The underlying error, for callers that need to match on a module's error type.
    pub fn inner(&self) -> &dyn Report {
        &*self.0
    }

    /// Downcast to a module's error type.
    pub fn downcast_ref<E: Report>(&self) -> Option<&E> {
        let inner: &(dyn std::error::Error + 'static) = &*self.0;
        inner.downcast_ref::<E>()
    }
}

impl<E: Report> From<E> for Error {
    fn from(err: E) -> Self {
        Error(Box::new(err))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)?;
        // Show the chain of causes, each once, so "fetch failed" says why.
        let mut source = self.0.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !text.is_empty() {
                write!(f, ": {text}")?;
            }
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A usage error found after clap parsed the arguments (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Usage {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Report for Usage {
    fn exit(&self) -> Exit {
        Exit::Usage
    }
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}

/// The command was stopped by Ctrl-C (exit code 130) after saying what it did.
#[derive(Debug, thiserror::Error)]
#[error("interrupted{}", .what.as_deref().map(|w| format!(": {w}")).unwrap_or_default())]
pub struct Interrupted {
    /// What was done and what not, e.g. "1 sent, 2 not sent".
    pub what: Option<String>,
    /// How to finish the job.
    pub hint: Option<String>,
}

impl Report for Interrupted {
    fn exit(&self) -> Exit {
        Exit::Interrupted
    }
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}

/// An I/O failure on a named path (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}")]
pub struct PathIo {
    /// What kbot was doing, e.g. "cannot write".
    pub action: &'static str,
    /// The file or directory.
    pub path: std::path::PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

impl PathIo {
    /// Wrap an I/O error with the action and the path it happened on.
    pub fn new(
        action: &'static str,
        path: impl Into<std::path::PathBuf>,
        source: std::io::Error,
    ) -> Self {
        PathIo {
            action,
            path: path.into(),
            source,
        }
    }
}

impl Report for PathIo {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_errors_keep_their_exit_code_and_hint_through_the_top_error() {
        let err: Error = Usage {
            message: "bad --date".into(),
            hint: Some("use YYYY-MM-DD".into()),
        }
        .into();
        assert_eq!(err.exit(), Exit::Usage);
        assert_eq!(err.hint().as_deref(), Some("use YYYY-MM-DD"));
        assert_eq!(err.to_string(), "bad --date");
        assert!(err.downcast_ref::<Usage>().is_some());
    }

    #[test]
    fn display_includes_the_cause() {
        let err: Error = PathIo::new(
            "cannot read",
            "/x/config.toml",
            std::io::Error::new(std::io::ErrorKind::NotFound, "No such file"),
        )
        .into();
        assert_eq!(err.to_string(), "cannot read /x/config.toml: No such file");
    }
}
