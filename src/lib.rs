//! prometheus-replica-operator: a stateless Metacontroller sync hook that turns one `PrometheusReplica` into a
//! Prometheus + Thanos stack.
//!
//! The pure core reads only its argument: no clock, no environment, no randomness, no network. From the bottom
//! up: the wire and API types ([`api`], [`hook`], [`error`]); the inputs, the parent's checked [`spec`] and the
//! [`related`] objects (with [`promconfig`], the check of the user's Prometheus configuration); the stack's
//! [`names`]; then [`render`] (the children) and [`status`] beside it, which never import each other; and the
//! [`pipeline`] that runs them in order. The shell ([`server`], [`tls`], [`admin`], [`metrics`], [`logging`],
//! [`cli`]) moves bytes in and out of it. `tests/layout.rs` keeps these layers.

// Outside tests, a panic must be an invariant stated with `expect`, never a bare unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod admin;
pub mod api;
pub mod cli;
pub mod error;
pub mod hook;
pub mod logging;
pub mod metrics;
pub mod names;
pub mod pipeline;
pub mod promconfig;
pub mod related;
pub mod render;
pub mod server;
pub mod spec;
pub mod status;
pub mod tls;

pub use error::{Error, Result};

/// mimalloc for everything that links the crate: the binary, its tests, the benchmarks and the floor of
/// `hack/bench.sh`. A sync builds and frees thousands of small strings and maps; under the system allocator
/// that was a third of its time with glibc, and the image links musl, whose allocator is slower still.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use hook::{CustomizeRequest, CustomizeResponse, SyncRequest, SyncResponse};

/// The sync hook: the full desired state for one request, or an error; never a partial answer.
pub fn sync(request: &SyncRequest) -> Result<SyncResponse> {
    pipeline::sync(request)
}

/// The customize hook: the ConfigMap and Secret that every sync of this parent needs in `related`.
pub fn customize(request: &CustomizeRequest) -> Result<CustomizeResponse> {
    pipeline::customize(request)
}

/// [`sync`] from and to JSON bytes, as the server speaks it. A body that is not a sync request is
/// [`Error::BadRequest`].
pub fn sync_json(body: &[u8]) -> Result<Vec<u8>> {
    sync_summarized(body).0
}

/// [`customize`] from and to JSON bytes.
pub fn customize_json(body: &[u8]) -> Result<Vec<u8>> {
    customize_summarized(body).0
}

/// What the request log says of a hook call: the parent and the number of children answered.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub children: Option<usize>,
}

impl Summary {
    fn of(parent: &serde_json::Value) -> Self {
        let field = |name: &str| {
            parent
                .pointer(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        };
        Self {
            namespace: field("/metadata/namespace"),
            name: field("/metadata/name"),
            children: None,
        }
    }

    /// The parent of a body that did not decode, read leniently: only for the log line of a refusal.
    fn peek(body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Peek {
            parent: serde_json::Value,
        }
        serde_json::from_slice::<Peek>(body)
            .map(|peek| Self::of(&peek.parent))
            .unwrap_or_default()
    }
}

/// [`sync_json`] with its [`Summary`], from the one decoding of the request.
pub fn sync_summarized(body: &[u8]) -> (Result<Vec<u8>>, Summary) {
    let request: SyncRequest = match decode(body) {
        Ok(request) => request,
        Err(e) => return (Err(e), Summary::peek(body)),
    };
    let mut summary = Summary::of(&request.parent);
    let answer = sync(&request).and_then(|response| {
        summary.children = Some(response.children.len());
        encode(&response)
    });
    (answer, summary)
}

/// [`customize_json`] with its [`Summary`].
pub fn customize_summarized(body: &[u8]) -> (Result<Vec<u8>>, Summary) {
    let request: CustomizeRequest = match decode(body) {
        Ok(request) => request,
        Err(e) => return (Err(e), Summary::peek(body)),
    };
    let summary = Summary::of(&request.parent);
    (
        customize(&request).and_then(|response| encode(&response)),
        summary,
    )
}

fn decode<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T> {
    // Tracking the path costs on every value, and is only needed to say where a bad body went wrong: decode
    // without it, and again with it when that fails.
    serde_json::from_slice(body).or_else(|_| decode_with_path(body))
}

fn decode_with_path<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = short_path(&e.path().to_string());
        let inner = without_strings(&e.into_inner().to_string());
        if path == "." {
            Error::BadRequest(format!("body is not a hook request: {inner}"))
        } else {
            Error::BadRequest(format!("{path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| Error::BadRequest(format!("body has trailing data: {e}")))?;
    Ok(value)
}

/// A JSON path cut to its first 100 characters: a body nested 100,000 levels deep has a path as long, and the
/// message ends up in an Event.
fn short_path(path: &str) -> String {
    match path.char_indices().nth(100) {
        Some((end, _)) => format!("{}...", &path[..end]),
        None => path.to_string(),
    }
}

/// A serde message without the string values it quotes (`invalid type: string "x", expected a map`):
/// a request can carry Secret data, and error bodies end up in Events and logs.
fn without_strings(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"...\"");
            }
            ('"', true) => quoted = false,
            (_, false) => out.push(c),
            (_, true) => {}
        }
    }
    out
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    // A sync answer is 20 to 30 KiB: start there rather than grow and copy from a few bytes.
    let mut out = Vec::with_capacity(32 * 1024);
    serde_json::to_writer(&mut out, value)
        .map_err(|e| Error::Internal(format!("encoding the answer: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_errors_never_repeat_string_values() {
        let error =
            sync_json(br#"{"parent": {}, "related": {"Secret.v1": "hunter2"}}"#).unwrap_err();
        let message = error.to_string();
        assert!(!message.contains("hunter2"), "{message}");
        assert!(
            message.contains("related.Secret.v1: invalid type: string \"...\", expected a map"),
            "{message}"
        );
    }

    #[test]
    fn the_summary_names_the_parent_and_counts_the_children() {
        let body = include_bytes!("../hack/examples/sync-request.json");
        let (answer, summary) = sync_summarized(body);
        let answer: serde_json::Value =
            serde_json::from_slice(&answer.expect("the example is valid")).unwrap();
        assert_eq!(summary.namespace.as_deref(), Some("default"));
        assert_eq!(summary.name.as_deref(), Some("example"));
        assert_eq!(
            summary.children,
            answer["children"].as_array().map(Vec::len)
        );
        // A refused request still names its parent when it has one.
        let (answer, summary) =
            sync_summarized(br#"{"parent": {"metadata": {"name": "x", "namespace": "y"}}}"#);
        assert!(answer.is_err());
        assert_eq!(
            (summary.name.as_deref(), summary.children),
            (Some("x"), None)
        );
    }

    #[test]
    fn deep_nesting_is_refused_with_a_short_path() {
        let body = format!(
            "{{\"parent\": {}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let message = sync_json(body.as_bytes()).unwrap_err().to_string();
        assert!(message.contains("recursion limit exceeded"), "{message}");
        assert!(message.len() < 300, "{message}");
    }

    #[test]
    fn syntax_errors_name_the_line_and_column() {
        let error = sync_json(b"{\"parent\": ").unwrap_err();
        assert!(
            matches!(&error, Error::BadRequest(m) if m.contains("line 1 column 11")),
            "{error}"
        );
        let error = sync_json(b"{} {}").unwrap_err();
        assert!(error.to_string().contains("trailing data"), "{error}");
    }
}
