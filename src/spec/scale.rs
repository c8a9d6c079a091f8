//! What makes the stack hold up as its data grows, checked and defaulted: the local TSDB's size limit, the
//! compactor's concurrency and sizing, memcached, the store gateway's shards, and the query frontend's memory
//! beside its cache.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::check::{check_range, image_or, resources_or, short};
use super::quantity::quantity_value;
use crate::api::PrometheusReplicaSpec;
use crate::{Error, Result};

/// Default memcached image, a pinned release.
pub const MEMCACHED_IMAGE: &str = "docker.io/library/memcached:1.6.45-alpine";
/// memcached's client port.
pub const MEMCACHED_PORT: i32 = 11211;
/// The compactor's disk per unit of `compact.concurrency`: "for medium sized bucket about 100GB should be
/// enough", times the concurrency (Thanos `docs/components/compact.md`, Disk).
const COMPACT_DISK_GI: i32 = 100;
/// The share of the Prometheus volume that the default `--storage.tsdb.retention.size` allows, in percent. The
/// size limit is applied when blocks are reloaded, after each head compaction, so the write-ahead log, the
/// head's chunks and a compaction's output need room beyond it.
pub const RETENTION_SIZE_PERCENT: u128 = 80;
/// The frontend process beside its cache: the default memory request before the cache counted.
const FRONTEND_BASE_MI: u128 = 256;
/// memcached's own memory beside its items (connections, hash table, slab overhead), in percent of `-m`.
const MEMCACHED_OVERHEAD_PERCENT: u128 = 25;

const MI: u128 = 1 << 20;

/// The most store gateway shards: a shard's StatefulSet is `<name>-thanos-store-<index>`, and with the longest
/// parent name (37 characters) one digit of index is what fits in a StatefulSet name (52: its pods carry
/// `controller-revision-hash: <name>-<10 characters>`, a 63-character label value).
pub const MAX_STORE_SHARDS: i32 = 10;

/// memcached, when enabled.
#[derive(Debug, Clone, PartialEq)]
pub struct Memcached {
    pub image: String,
    pub replicas: i32,
    /// memcached's `-m`: megabytes (MiB) for items.
    pub memory_mb: u64,
}

/// The exact number of bytes of a well-formed quantity, rounded down.
pub fn quantity_bytes(quantity: &Quantity) -> Option<u128> {
    quantity_value(&quantity.0).map(|(numerator, denominator)| numerator / denominator)
}

/// `spec.metrics.retentionSize`, checked: Prometheus's byte size (`512MB`; `KB` is 1024 bytes).
pub fn retention_size(spec: &PrometheusReplicaSpec) -> Result<Option<String>> {
    let Some(size) = spec.metrics.as_ref().and_then(|m| m.retention_size.clone()) else {
        return Ok(None);
    };
    if byte_size(&size).is_none() {
        return Err(Error::invalid(
            "spec.metrics.retentionSize",
            format!(
                "{:?} is not a size: use a number and a unit among B, KB, MB, GB, TB, PB, EB, such as 40GB \
                 (0B turns it off)",
                short(&size)
            ),
        ));
    }
    Ok(Some(size))
}

/// The bytes of a Prometheus byte size (`alecthomas/units` `ParseBase2Bytes` with the units its help names).
pub fn byte_size(value: &str) -> Option<u128> {
    let split = value.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = value.split_at(split);
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let power = ["B", "KB", "MB", "GB", "TB", "PB", "EB"]
        .iter()
        .position(|u| *u == unit)?;
    digits.parse::<u128>().ok()?.checked_mul(1 << (10 * power))
}

/// The default `--storage.tsdb.retention.size` of a Prometheus volume: [`RETENTION_SIZE_PERCENT`] of it, in
/// whole megabytes (MiB). `None` for a volume too small to hold one megabyte of blocks.
pub fn default_retention_size(volume: &Quantity) -> Option<String> {
    let megabytes = quantity_bytes(volume)? * RETENTION_SIZE_PERCENT / 100 / MI;
    (megabytes > 0).then(|| format!("{megabytes}MB"))
}

/// `spec.store.shards`, checked; 1 by default.
pub fn store_shards(spec: &PrometheusReplicaSpec) -> Result<i32> {
    let shards = spec.store.as_ref().and_then(|s| s.shards).unwrap_or(1);
    check_range("spec.store.shards", shards, 1, MAX_STORE_SHARDS)?;
    Ok(shards)
}

/// `spec.compact.concurrency`, checked; 1 by default.
pub fn compact_concurrency(spec: &PrometheusReplicaSpec) -> Result<i32> {
    let concurrency = spec
        .compact
        .as_ref()
        .and_then(|c| c.concurrency)
        .unwrap_or(1);
    check_range("spec.compact.concurrency", concurrency, 1, 32)?;
    Ok(concurrency)
}

/// The default compactor volume: [`COMPACT_DISK_GI`] per concurrent compaction.
pub fn compact_volume_size(concurrency: i32) -> String {
    format!("{}Gi", COMPACT_DISK_GI * concurrency)
}

/// The compactor's resources: the user's, or a quarter of a core and 1Gi of memory per concurrent compaction
/// (the Thanos docs: one core each; memory grows with the block sizes and the concurrency).
pub fn compact_resources(
    spec: Option<ResourceRequirements>,
    concurrency: i32,
) -> Result<ResourceRequirements> {
    resources_or(
        "spec.resources.compact",
        spec,
        &format!("{}m", 250 * concurrency),
        &format!("{concurrency}Gi"),
    )
}

/// The query frontend's resources: the user's, with a warning when their memory is not above the in-memory
/// cache; by default 100m and the cache plus 256Mi for the process. `cache_bytes` is the in-memory cache's
/// size, `None` when the responses go to memcached.
pub fn frontend_resources(
    spec: Option<ResourceRequirements>,
    cache_bytes: Option<u128>,
    warnings: &mut Vec<String>,
) -> Result<ResourceRequirements> {
    let field = "spec.resources.queryFrontend";
    let cache_mi = cache_bytes.map_or(0, |bytes| bytes.div_ceil(MI));
    if let (Some(resources), Some(bytes)) = (&spec, cache_bytes) {
        let memory = |part: &Option<BTreeMap<String, Quantity>>| {
            part.as_ref()
                .and_then(|m| m.get("memory"))
                .and_then(quantity_bytes)
        };
        // The limit is what kills; without one, the request is what the scheduler keeps free.
        if let Some((which, memory)) = memory(&resources.limits)
            .map(|m| ("limit", m))
            .or_else(|| memory(&resources.requests).map(|m| ("request", m)))
            && memory <= bytes
        {
            warnings.push(format!(
                "{field}: the memory {which} is not above spec.queryFrontend.cache.maxSize ({} MiB): a full \
                 cache gets the frontend killed; give it the cache size and some 256Mi more",
                cache_mi
            ));
        }
    }
    resources_or(
        field,
        spec,
        "100m",
        &format!("{}Mi", FRONTEND_BASE_MI + cache_mi),
    )
}

/// `spec.memcached`, checked and defaulted; `None` unless enabled.
pub fn memcached(
    spec: &PrometheusReplicaSpec,
    highly_available: bool,
) -> Result<Option<Memcached>> {
    let memcached = spec.memcached.clone().unwrap_or_default();
    if !memcached.enabled.unwrap_or(false) {
        return Ok(None);
    }
    let replicas = memcached
        .replicas
        .unwrap_or(if highly_available { 2 } else { 1 });
    check_range("spec.memcached.replicas", replicas, 1, 20)?;
    let field = "spec.memcached.memory";
    let memory = memcached.memory.unwrap_or_else(|| Quantity("1Gi".into()));
    let bytes = quantity_bytes(&memory).ok_or_else(|| {
        Error::invalid(
            field,
            format!(
                "{:?} is not a quantity: use a size such as 1Gi",
                short(&memory.0)
            ),
        )
    })?;
    if !(64 * MI..=64 * 1024 * MI).contains(&bytes) {
        return Err(Error::invalid(
            field,
            format!("{:?} is out of range: use 64Mi to 64Gi", short(&memory.0)),
        ));
    }
    let given = spec.images.as_ref().and_then(|i| i.memcached.clone());
    let image = image_or("spec.images.memcached", given, MEMCACHED_IMAGE)?;
    Ok(Some(Memcached {
        image,
        replicas,
        memory_mb: u64::try_from(bytes / MI).expect("at most 64Gi in megabytes fits in u64"),
    }))
}

/// memcached's resources: the user's, or 100m and its item memory plus [`MEMCACHED_OVERHEAD_PERCENT`].
pub fn memcached_resources(
    spec: Option<ResourceRequirements>,
    memcached: &Memcached,
) -> Result<ResourceRequirements> {
    let memory = u128::from(memcached.memory_mb) * (100 + MEMCACHED_OVERHEAD_PERCENT) / 100;
    resources_or(
        "spec.resources.memcached",
        spec,
        "100m",
        &format!("{memory}Mi"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn spec(extra: Value) -> PrometheusReplicaSpec {
        let mut full = json!({"configMap": "c", "bucketSecret": "b"});
        for (key, value) in extra.as_object().unwrap() {
            full[key] = value.clone();
        }
        serde_json::from_value(full).unwrap()
    }

    #[test]
    fn the_default_retention_size_leaves_a_fifth_of_the_volume_free() {
        assert_eq!(
            default_retention_size(&Quantity("10Gi".into())).as_deref(),
            Some("8192MB")
        );
        assert_eq!(
            default_retention_size(&Quantity("100G".into())).as_deref(),
            Some("76293MB")
        );
        assert_eq!(default_retention_size(&Quantity("1Ki".into())), None);
        // What Prometheus will read back: 80% of the volume, never more.
        let size = default_retention_size(&Quantity("50Gi".into())).unwrap();
        assert!(byte_size(&size).unwrap() <= 50 * 1024 * MI * 8 / 10);
    }

    #[test]
    fn prometheus_byte_sizes_are_powers_of_two_with_the_units_its_help_names() {
        assert_eq!(byte_size("512MB"), Some(512 * MI));
        assert_eq!(byte_size("1KB"), Some(1024));
        assert_eq!(byte_size("0B"), Some(0));
        for bad in [
            "", "MB", "10", "10Gi", "10GiB", "1.5GB", "-1GB", "10 GB", "10gb",
        ] {
            assert_eq!(byte_size(bad), None, "{bad:?}");
        }
        let error = retention_size(&spec(json!({"metrics": {"retentionSize": "10Gi"}})))
            .unwrap_err()
            .to_string();
        assert!(error.contains("spec.metrics.retentionSize"), "{error}");
    }

    #[test]
    fn store_shards_are_one_by_default_and_at_most_ten() {
        assert_eq!(store_shards(&spec(json!({}))).unwrap(), 1);
        assert_eq!(
            store_shards(&spec(json!({"store": {"shards": 10}}))).unwrap(),
            10
        );
        for bad in [0, 11, -1] {
            let error = store_shards(&spec(json!({"store": {"shards": bad}})))
                .unwrap_err()
                .to_string();
            assert!(error.contains("spec.store.shards"), "{error}");
        }
    }

    #[test]
    fn compactor_disk_and_resources_grow_with_its_concurrency() {
        assert_eq!(compact_volume_size(1), "100Gi");
        assert_eq!(compact_volume_size(3), "300Gi");
        let resources = compact_resources(None, 2).unwrap().requests.unwrap();
        assert_eq!(resources["cpu"].0, "500m");
        assert_eq!(resources["memory"].0, "2Gi");
        let error = compact_concurrency(&spec(json!({"compact": {"concurrency": 0}})))
            .unwrap_err()
            .to_string();
        assert!(error.contains("spec.compact.concurrency"), "{error}");
    }

    #[test]
    fn the_frontends_memory_request_is_above_its_cache() {
        let mut warnings = Vec::new();
        let resources = frontend_resources(None, Some(256_000_000), &mut warnings).unwrap();
        // 256MB is 244.1 MiB: 245Mi of cache and 256Mi for the process.
        assert_eq!(resources.requests.unwrap()["memory"].0, "501Mi");
        let with_memcached = frontend_resources(None, None, &mut warnings).unwrap();
        assert_eq!(with_memcached.requests.unwrap()["memory"].0, "256Mi");
        assert!(warnings.is_empty(), "{warnings:?}");

        let small: ResourceRequirements =
            serde_json::from_value(json!({"limits": {"memory": "256Mi"}})).unwrap();
        frontend_resources(Some(small), Some(1_000_000_000), &mut warnings).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("memory limit"), "{warnings:?}");
        let big: ResourceRequirements =
            serde_json::from_value(json!({"requests": {"memory": "2Gi"}})).unwrap();
        frontend_resources(Some(big), Some(1_000_000_000), &mut warnings).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn memcached_is_off_by_default_and_checked_when_on() {
        assert_eq!(memcached(&spec(json!({})), true).unwrap(), None);
        let on = memcached(&spec(json!({"memcached": {"enabled": true}})), true)
            .unwrap()
            .unwrap();
        assert_eq!(
            on,
            Memcached {
                image: MEMCACHED_IMAGE.into(),
                replicas: 2,
                memory_mb: 1024
            }
        );
        let resources = memcached_resources(None, &on).unwrap().requests.unwrap();
        assert_eq!(resources["memory"].0, "1280Mi");
        for (given, field) in [
            (
                json!({"enabled": true, "memory": "1Mi"}),
                "spec.memcached.memory",
            ),
            (
                json!({"enabled": true, "memory": "lots"}),
                "spec.memcached.memory",
            ),
            (
                json!({"enabled": true, "replicas": 0}),
                "spec.memcached.replicas",
            ),
        ] {
            let error = memcached(&spec(json!({ "memcached": given })), false)
                .unwrap_err()
                .to_string();
            assert!(error.contains(field), "{error}");
        }
    }
}
