//! Logging setup: structured lines on standard error.
//!
//! The server logs one line per request and never a request body: related Secrets arrive in sync requests with
//! their data.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, fields at the top level: for log collectors.
    Json,
    /// Human-readable lines: for a terminal.
    Text,
}

impl LogFormat {
    /// `text` when standard error is a terminal, `json` otherwise (in a container).
    pub fn detect() -> Self {
        if std::io::stderr().is_terminal() {
            Self::Text
        } else {
            Self::Json
        }
    }
}

/// Logging for the one-shot commands (`render`, `certs`): warnings and errors as text, or what `RUST_LOG` asks.
pub fn init_cli() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    // A second initialisation (in tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Logging for `serve`. `level` uses `RUST_LOG` syntax (`info`, `debug,hyper=info`); a bad one is an error
/// naming `--log-level`.
pub fn init_server(format: LogFormat, level: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(level).map_err(|e| format!("--log-level {level:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
    result.map_err(|e| format!("setting up logging: {e}"))
}
