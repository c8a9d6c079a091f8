//! The pure sync end to end (`sync_json`: decode, render, encode) over the 2018 example, with nothing and
//! with everything observed, and over requests of 10 KiB to 10 MiB, so that the cost per byte shows.
//!
//! Beside them, `memo-key`: what the server's memo of answers adds to a request it has not answered before (the
//! key, a digest of the body), over the example and the 10 MiB request.
//!
//! `cargo bench --bench sync`; one benchmark: `cargo bench --bench sync -- 'size/1MiB'`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{Request, Rollout, as_stored};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use prometheus_replica_operator::metrics::Metrics;
use prometheus_replica_operator::server::memo::{self, Memo};
use prometheus_replica_operator::sync_json;
use serde_json::{Value, json};

/// The request `hack/bench.sh` sends: the 2018 README example, nothing created yet, no customize hook.
const EXAMPLE: &[u8] = include_bytes!("../hack/examples/sync-request.json");

/// A highly available stack with the customize hook, self-monitoring and two Alertmanagers, nothing created yet:
/// the derived configuration and its rules file are rendered.
const MONITORING: &[u8] = include_bytes!("../tests/data/monitoring/sync-request.json");

/// base64 of "type: FILESYSTEM\nconfig:\n  directory: /data\n".
const OBJSTORE: &str = "dHlwZTogRklMRVNZU1RFTQpjb25maWc6CiAgZGlyZWN0b3J5OiAvZGF0YQo=";
const CONFIG: &str = "global:\n  scrape_interval: 30s\nscrape_configs:\n- job_name: self\n  static_configs:\n  - targets: ['localhost:9090']\n";

/// The 2018 example as deployed (customize hook, both related objects).
fn deployed() -> Request {
    Request::example()
        .customize()
        .config_map("prometheus-config", &[("prometheus.yml", CONFIG)])
        .secret("s3-bucket", &[("objstore.yml", OBJSTORE)])
}

/// Every child of the deployed example as the API server stores it once everything has rolled out: server-set
/// metadata, managedFields, the last-applied annotation and a status.
fn stored() -> Vec<Value> {
    as_stored(&deployed().sync_json(), Rollout::Done)
}

/// The deployed example grown to about `target` bytes the way requests grow: children observed one by one as
/// they are created, then more managedFields entries on them (one per field manager, each with the `fieldsV1`
/// of the whole object), as on a cluster where many controllers touch every object.
fn grown(target: usize) -> Vec<u8> {
    let size = |request: &Request| {
        serde_json::to_vec(&request.json())
            .expect("requests encode")
            .len()
    };
    let mut request = deployed();
    let mut children = stored().into_iter();
    while size(&request) < target {
        let Some(child) = children.next() else { break };
        request = request.observe([child]);
    }
    let mut request = request.json();
    let mut size = serde_json::to_vec(&request).expect("requests encode").len();
    let mut objects: Vec<&mut Value> = request["children"]
        .as_object_mut()
        .expect("requests have children")
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|by_name| by_name.values_mut())
        .collect();
    let mut manager = 0;
    while size < target {
        let count = objects.len();
        let object = &mut objects[manager % count];
        let entry = json!({
            "manager": format!("controller-{manager}"),
            "operation": "Update",
            "apiVersion": object["apiVersion"],
            "time": "2026-11-01T10:00:05Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": fields(object),
        });
        size += serde_json::to_vec(&entry).expect("entries encode").len() + 1;
        object["metadata"]["managedFields"]
            .as_array_mut()
            .expect("stored children have managedFields")
            .push(entry);
        manager += 1;
    }
    serde_json::to_vec(&request).expect("requests encode")
}

/// A `fieldsV1` set naming every field of `value`, as the API server writes it.
fn fields(value: &Value) -> Value {
    match value {
        Value::Object(object) => object
            .iter()
            .map(|(key, value)| (format!("f:{key}"), fields(value)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        _ => json!({}),
    }
}

fn bench(c: &mut Criterion) {
    let mut example = c.benchmark_group("example");
    for (name, body) in [
        ("nothing-observed", EXAMPLE.to_vec()),
        ("self-monitoring", MONITORING.to_vec()),
        (
            "all-observed",
            serde_json::to_vec(&deployed().observe(stored()).json()).expect("requests encode"),
        ),
    ] {
        sync_json(&body).expect("the fixture is a valid request");
        example.throughput(Throughput::Bytes(body.len() as u64));
        example.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
            b.iter(|| sync_json(black_box(body)))
        });
    }
    example.finish();

    let mut size = c.benchmark_group("size");
    size.sample_size(20)
        .measurement_time(Duration::from_secs(5));
    let mut largest = Vec::new();
    for (name, target) in [
        ("10KiB", 10 << 10),
        ("100KiB", 100 << 10),
        ("1MiB", 1 << 20),
        ("10MiB", 10 << 20),
    ] {
        let body = grown(target);
        sync_json(&body).expect("the fixture is a valid request");
        size.throughput(Throughput::Bytes(body.len() as u64));
        size.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
            b.iter(|| sync_json(black_box(body)))
        });
        largest = body;
    }
    size.finish();

    let mut key = c.benchmark_group("memo-key");
    let memo = Memo::new(memo::DEFAULT_BYTES, b"bench", Metrics::new().into());
    for (name, body) in [("nothing-observed", EXAMPLE.to_vec()), ("10MiB", largest)] {
        key.throughput(Throughput::Bytes(body.len() as u64));
        key.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
            b.iter(|| memo.key("/sync", black_box(body)))
        });
    }
    key.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
