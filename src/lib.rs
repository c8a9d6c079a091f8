//! prometheus-replica-operator: a stateless Metacontroller sync hook that turns one `PrometheusReplica` into a
//! Prometheus + Thanos stack.
//!
//! The pure core ([`api`], [`hook`], [`spec`], [`render`], [`status`]) reads only its argument: no clock, no
//! environment, no randomness, no network. The shell ([`server`], [`tls`], [`admin`], [`metrics`], [`cli`])
//! moves bytes in and out of it.

// Outside tests, a panic must be an invariant stated with `expect`, never a bare unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod admin;
pub mod api;
pub mod cli;
pub mod error;
pub mod hook;
pub mod logging;
pub mod metrics;
pub mod render;
pub mod server;
pub mod spec;
pub mod status;
pub mod tls;

pub use error::{Error, Result};

use hook::{CustomizeRequest, CustomizeResponse, SyncRequest, SyncResponse};

/// The sync hook: the full desired state for one request, or an error; never a partial answer.
pub fn sync(request: &SyncRequest) -> Result<SyncResponse> {
    render::sync(request)
}

/// The customize hook: the ConfigMap and Secret that every sync of this parent needs in `related`.
pub fn customize(request: &CustomizeRequest) -> Result<CustomizeResponse> {
    render::customize(request)
}

/// [`sync`] from and to JSON bytes, as the server speaks it. A body that is not a sync request is
/// [`Error::BadRequest`].
pub fn sync_json(body: &[u8]) -> Result<Vec<u8>> {
    let request: SyncRequest = decode(body)?;
    encode(&sync(&request)?)
}

/// [`customize`] from and to JSON bytes.
pub fn customize_json(body: &[u8]) -> Result<Vec<u8>> {
    let request: CustomizeRequest = decode(body)?;
    encode(&customize(&request)?)
}

fn decode<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // serde_json's messages name a line and column, never the input itself.
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

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Internal(format!("encoding the answer: {e}")))
}
