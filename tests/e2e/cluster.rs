//! The real control plane of `hack/control-plane.sh`: a client, namespaces, kubectl, and waiting.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::ApiResource;
use kube::{Client, Config};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// The variable naming the running control plane's kubeconfig.
pub const KUBECONFIG_VAR: &str = "PRO_E2E_KUBECONFIG";

/// How long anything may take on a loaded 2-core machine; no test asserts on speed.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// The repository's root, for deploy/ and the fixtures.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub struct Cluster {
    pub client: Client,
    kubeconfig: PathBuf,
}

impl Cluster {
    /// The control plane named by `PRO_E2E_KUBECONFIG`, set up once per test process (our CRD and
    /// Metacontroller's, Established); `None`, with one line on standard error, when it is unset.
    pub async fn connect() -> Option<Self> {
        let Some(kubeconfig) = std::env::var_os(KUBECONFIG_VAR).map(PathBuf::from) else {
            static SKIP: Once = Once::new();
            SKIP.call_once(|| {
                // Straight to the stream, not through the test harness's capture: one line per run.
                let _ = writeln!(
                    std::io::stderr(),
                    "e2e: skipped: {KUBECONFIG_VAR} is not set (hack/e2e-local.sh starts a control plane and sets it)"
                );
            });
            return None;
        };
        let config = Kubeconfig::read_from(&kubeconfig).unwrap_or_else(|e| {
            panic!(
                "{KUBECONFIG_VAR}: cannot read {}: {e}",
                kubeconfig.display()
            )
        });
        let config = Config::from_custom_kubeconfig(config, &KubeConfigOptions::default())
            .await
            .expect("the kubeconfig of hack/control-plane.sh is usable");
        let cluster = Self {
            client: Client::try_from(config).expect("a client for the kubeconfig"),
            kubeconfig,
        };
        static SETUP: OnceCell<()> = OnceCell::const_new();
        SETUP
            .get_or_init(|| async {
                cluster.kubectl_ok(&[
                    "apply",
                    "--server-side",
                    "-f",
                    path(&repo(METACONTROLLER_CRD)),
                ]);
                cluster.kubectl_ok(&[
                    "apply",
                    "--server-side",
                    "-f",
                    path(&repo("deploy/crd.yaml")),
                ]);
                for crd in [
                    "compositecontrollers.metacontroller.k8s.io",
                    "prometheusreplicas.prometheus.robszumski.com",
                ] {
                    cluster.kubectl_ok(&[
                        "wait",
                        "--for=condition=Established",
                        &format!("crd/{crd}"),
                        "--timeout=60s",
                    ]);
                }
            })
            .await;
        Some(cluster)
    }

    /// `kubectl ARGS` against this control plane.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .output()
            .expect("kubectl runs (hack/control-plane.sh needs it too)")
    }

    /// `kubectl ARGS`, which must succeed; its standard output.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl(args);
        assert!(
            output.status.success(),
            "kubectl {} failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A new namespace for one test, enforcing Pod Security `restricted` as the docs ask users to. The
    /// name ends in the test process's id, so that a second run against the same plane starts afresh.
    pub async fn namespace(&self, name: &str) -> String {
        let name = &format!("{name}-{}", std::process::id());
        self.apply(
            &NAMESPACE,
            None,
            json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                }},
            }),
        )
        .await;
        name.clone()
    }

    /// Server-side apply `object` as the test itself (field manager `e2e`), standing in for a user.
    pub async fn apply(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        object: Value,
    ) -> Value {
        let name = object["metadata"]["name"]
            .as_str()
            .expect("objects have names")
            .to_owned();
        let api = self.api(resource, namespace);
        let applied = api
            .patch(
                &name,
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(&object),
            )
            .await
            .unwrap_or_else(|e| panic!("applying {} {name}: {e}", resource.kind));
        serde_json::to_value(applied).expect("objects are JSON")
    }

    /// Every object of a YAML stream (a manifest or several), applied into `namespace`.
    pub async fn apply_yaml(&self, namespace: &str, yaml: &str) {
        for object in documents(yaml) {
            let resource = resource_of(&object);
            self.apply(&resource, Some(namespace), object).await;
        }
    }

    pub fn api(&self, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(namespace) => Api::namespaced_with(self.client.clone(), namespace, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }

    /// The object, or `None` when it does not exist.
    pub async fn get(&self, resource: &ApiResource, namespace: &str, name: &str) -> Option<Value> {
        let object = self
            .api(resource, Some(namespace))
            .get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("getting {} {namespace}/{name}: {e}", resource.kind))?;
        Some(serde_json::to_value(object).expect("objects are JSON"))
    }

    /// Every object of one kind in `namespace`.
    pub async fn list(&self, resource: &ApiResource, namespace: &str) -> Vec<Value> {
        self.list_with(resource, namespace, &Default::default())
            .await
    }

    /// Every object of one kind in `namespace`, or in every namespace (and cluster-scoped kinds) for `None`.
    pub async fn list_in(&self, resource: &ApiResource, namespace: Option<&str>) -> Vec<Value> {
        self.list_selected(resource, namespace, &Default::default())
            .await
    }

    /// The objects of one kind in `namespace` that `params` select, each with its `apiVersion` and
    /// `kind` (the items of a list come without them; Metacontroller's informers add them).
    pub async fn list_with(
        &self,
        resource: &ApiResource,
        namespace: &str,
        params: &ListParams,
    ) -> Vec<Value> {
        self.list_selected(resource, Some(namespace), params).await
    }

    async fn list_selected(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Vec<Value> {
        let list = self
            .api(resource, namespace)
            .list(params)
            .await
            .unwrap_or_else(|e| panic!("listing {} in {namespace:?}: {e}", resource.plural));
        list.items
            .into_iter()
            .map(|o| with_kind(o, resource))
            .collect()
    }
}

/// An item of a list as JSON with its `apiVersion` and `kind`, as Metacontroller's informers give it.
fn with_kind(object: DynamicObject, resource: &ApiResource) -> Value {
    let mut object = serde_json::to_value(object).expect("objects are JSON");
    object["apiVersion"] = json!(resource.api_version);
    object["kind"] = json!(resource.kind);
    object
}

/// Metacontroller's CompositeController CRD, vendored from its v4.17.2 release.
pub const METACONTROLLER_CRD: &str = ".ci/metacontroller/compositecontroller-crd-v4.17.2.yaml";

fn path(path: &Path) -> &str {
    path.to_str().expect("repository paths are UTF-8")
}

/// The documents of a YAML stream, as JSON.
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|document| {
            serde::Deserialize::deserialize(document).expect("manifests in the repository are YAML")
        })
        .filter(|object: &Value| !object.is_null())
        .collect()
}

/// The API resource of an object of a kind the tests use.
pub fn resource_of(object: &Value) -> ApiResource {
    let kind = object["kind"].as_str().expect("objects have a kind");
    RESOURCES
        .iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| panic!("the e2e tests know no resource for kind {kind}"))
        .resource()
}

/// Kinds by group, version and plural, as the CompositeController names them.
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

impl Kind {
    pub fn resource(&self) -> ApiResource {
        let api_version = if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        };
        ApiResource {
            group: self.group.into(),
            version: self.version.into(),
            api_version,
            kind: self.kind.into(),
            plural: self.plural.into(),
        }
    }
}

pub const RESOURCES: &[Kind] = &[
    Kind {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
    },
    Kind {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
    },
    Kind {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
    },
    Kind {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
    },
    Kind {
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
    },
    Kind {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
    },
    Kind {
        group: "",
        version: "v1",
        kind: "PersistentVolumeClaim",
        plural: "persistentvolumeclaims",
    },
    Kind {
        group: "storage.k8s.io",
        version: "v1",
        kind: "StorageClass",
        plural: "storageclasses",
    },
    Kind {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
    },
    Kind {
        group: "apps",
        version: "v1",
        kind: "StatefulSet",
        plural: "statefulsets",
    },
    Kind {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
    },
    Kind {
        group: "policy",
        version: "v1",
        kind: "PodDisruptionBudget",
        plural: "poddisruptionbudgets",
    },
    Kind {
        group: "networking.k8s.io",
        version: "v1",
        kind: "Ingress",
        plural: "ingresses",
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "Role",
        plural: "roles",
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "RoleBinding",
        plural: "rolebindings",
    },
    Kind {
        group: "scheduling.k8s.io",
        version: "v1",
        kind: "PriorityClass",
        plural: "priorityclasses",
    },
    Kind {
        group: "prometheus.robszumski.com",
        version: "v1alpha1",
        kind: "PrometheusReplica",
        plural: "prometheusreplicas",
    },
    Kind {
        group: "metacontroller.k8s.io",
        version: "v1alpha1",
        kind: "CompositeController",
        plural: "compositecontrollers",
    },
];

/// The resource of `kind`, which must be in [`RESOURCES`].
pub fn kind(kind: &str) -> ApiResource {
    resource_of(&json!({ "kind": kind }))
}

static NAMESPACE: std::sync::LazyLock<ApiResource> = std::sync::LazyLock::new(|| kind("Namespace"));

/// Retry `check` every 250 ms until it returns `Some`, or panic with `what` after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
