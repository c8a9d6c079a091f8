//! The stack-in-motion run (`hack/stack-local.sh`) builds Prometheus and Thanos from the Go modules pinned in
//! `hack/stack/`: they must be the versions of the default images, or the run proves other programs than the
//! ones users get. When a default image tag moves, its pin moves with it.

use prometheus_replica_operator::spec::{PROMETHEUS_IMAGE, THANOS_IMAGE};

/// The version `module` is required at in `hack/stack/<folder>/go.mod`.
fn pinned(folder: &str, module: &str) -> String {
    let path = format!("{}/hack/stack/{folder}/go.mod", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // `require <module> <version>`, or `<module> <version> // indirect` inside a require block.
    text.lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            let first = words.next()?;
            let first = if first == "require" {
                words.next()?
            } else {
                first
            };
            (first == module).then(|| words.next()).flatten()
        })
        .unwrap_or_else(|| panic!("{path} requires no version of {module}"))
        .to_owned()
}

fn tag(image: &str) -> &str {
    image
        .rsplit_once(':')
        .expect("the default images carry a tag")
        .1
}

#[test]
fn the_stack_runs_the_prometheus_of_the_default_image() {
    // Prometheus v3.X.Y is published as the Go module version v0.(300+X).Y.
    let tag = tag(PROMETHEUS_IMAGE);
    let [major, minor, patch]: [u32; 3] = tag
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse().expect("a numeric version"))
        .collect::<Vec<_>>()
        .try_into()
        .expect("vX.Y.Z");
    assert_eq!(
        pinned("prometheus", "github.com/prometheus/prometheus"),
        format!("v0.{}.{patch}", major * 100 + minor),
        "hack/stack/prometheus/go.mod must pin the Go module of {PROMETHEUS_IMAGE}"
    );
}

#[test]
fn the_stack_runs_the_thanos_of_the_default_image() {
    assert_eq!(
        pinned("thanos", "github.com/thanos-io/thanos"),
        tag(THANOS_IMAGE),
        "hack/stack/thanos/go.mod must pin the Go module of {THANOS_IMAGE}"
    );
}

#[test]
fn the_stack_runs_the_oldest_supported_versions_beside_the_defaults() {
    use prometheus_replica_operator::spec::{OLDEST_PROMETHEUS, OLDEST_THANOS};
    // Prometheus v2.X.Y is published as the Go module version v0.X.Y.
    assert_eq!(OLDEST_PROMETHEUS.major, 2);
    assert_eq!(
        pinned("prometheus-oldest", "github.com/prometheus/prometheus"),
        format!("v0.{}.{}", OLDEST_PROMETHEUS.minor, OLDEST_PROMETHEUS.patch),
        "hack/stack/prometheus-oldest/go.mod must pin the oldest supported Prometheus, {OLDEST_PROMETHEUS}"
    );
    assert_eq!(
        pinned("thanos-oldest", "github.com/thanos-io/thanos"),
        OLDEST_THANOS.to_string(),
        "hack/stack/thanos-oldest/go.mod must pin the oldest supported Thanos, {OLDEST_THANOS}"
    );
}
