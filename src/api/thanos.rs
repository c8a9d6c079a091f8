//! The Thanos components beyond the sidecar and the querier: the compactor, the store gateway, the query
//! frontend and memcached.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CACHE_SIZE_PATTERN, DURATION_PATTERN, GO_DURATION_PATTERN};

/// The Thanos compactor.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompactSpec {
    /// Run the compactor. Default `true`. Turn it off only when another compactor already serves the bucket:
    /// two compactors on one bucket corrupt it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// How long the bucket keeps each resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<CompactRetentionSpec>,
    /// Groups of blocks compacted at once (`--compact.concurrency`). Each needs about one CPU core, its own
    /// share of memory and 100Gi of disk in a medium bucket (the Thanos docs): the defaults of the compactor's
    /// resources and volume grow with it. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 32))]
    pub concurrency: Option<i32>,
    /// `true` merges the blocks of the Prometheus replicas into one (offline deduplication:
    /// `--deduplication.replica-label=<replicaLabel>` and `--deduplication.func=penalty`), so that a highly
    /// available pair stops doubling the bucket. Irreversible, and experimental in Thanos: read the risks in
    /// the operator's docs/usage.md first. Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deduplication: Option<bool>,
}

/// The Thanos store gateway.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreSpec {
    /// Store gateway shards, 1 to 10: with N above 1, the stack's blocks are split by a hash of their block id
    /// (`hashmod` over `__block_id` in `--selector.relabel-config`) among N StatefulSets
    /// `<name>-thanos-store-<0..N-1>`, each with `replicas.store` pods serving its share, so that each store
    /// gateway's memory and disk hold a share of the bucket. A change of the count starts the new
    /// StatefulSets beside the running ones, which are deleted once every new one is ready. Default 1: one
    /// StatefulSet `<name>-thanos-store` serving every block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub shards: Option<i32>,
}

/// Bucket retention per resolution; `0d` keeps that resolution forever.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompactRetentionSpec {
    /// Raw samples. Default `30d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = DURATION_PATTERN))]
    pub raw: Option<String>,
    /// 5-minute downsampled data. Default `90d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = DURATION_PATTERN))]
    pub five_minutes: Option<String>,
    /// 1-hour downsampled data. Default `1y`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = DURATION_PATTERN))]
    pub one_hour: Option<String>,
}

/// The Thanos query frontend.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryFrontendSpec {
    /// Run the query frontend; the `<name>-query` Ingress and `status.output.query` then point at it.
    /// Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Range queries are split into queries of this length, run in parallel and cached apart
    /// (`--query-range.split-interval`): hours, minutes and seconds, such as `24h`. Default `24h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 32), regex(pattern = GO_DURATION_PATTERN))]
    pub split_interval: Option<String>,
    /// The in-memory response cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<QueryFrontendCacheSpec>,
}

/// The query frontend's in-memory response cache.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryFrontendCacheSpec {
    /// Largest size of the cache per replica, such as `256MB` (units `KB`, `MB`, `GB`). Default `256MB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = CACHE_SIZE_PATTERN))]
    pub max_size: Option<String>,
    /// How long a cached response is served (the in-memory cache's `validity`, memcached's `expiration`):
    /// hours, minutes and seconds, such as `6h`. It bounds how long an answer computed while part of the data
    /// was unreachable is served again. Default `6h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 32), regex(pattern = GO_DURATION_PATTERN))]
    pub validity: Option<String>,
}

/// memcached for the query frontend and the store gateway.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemcachedSpec {
    /// Run `<name>-memcached` and point the query frontend's response caches and the store gateway's index and
    /// bucket caches at it. Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// memcached replicas; the clients spread the keys over them. Default 2 when highly available, else 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20))]
    pub replicas: Option<i32>,
    /// Memory of each replica for items (memcached `-m`), a quantity from `64Mi` to `64Gi`. The container's
    /// memory request is this plus a quarter for connections and the hash table. Default `1Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
}
