"""Pull what the real Prometheus checks out of the hook's rendered children.

Usage:
  rendered.py args RENDERED CONFIG TSDB LISTEN
      The Prometheus container's flags from the `*-prometheus` StatefulSet, one a
      line, made runnable here: config and TSDB paths swapped for CONFIG and TSDB,
      the listen address set to LISTEN, and flags that Debian's Prometheus 2.42
      lacks left out (each one named on standard error).
  rendered.py configs RENDERED DIR
      Writes every key of every `*-prometheus-config` ConfigMap to DIR/NAME/
      (as the pod sees the mounted directory: `prometheus.yml` beside the rule
      files it names) and prints the paths of the `prometheus.yml` files.
  rendered.py request OBJECTS CONTROLLERS
      A sync request as Metacontroller sends it once the customize hook has
      asked for the user's ConfigMap and Secret: the PrometheusReplica of
      OBJECTS as parent, its ConfigMaps and Secrets in `related` (hook v2 keys),
      and the CompositeController of CONTROLLERS (so a customize hook is set).
"""

import base64
import json
import os
import sys

import yaml

# Flags that only Prometheus v3 knows; 2.42 stops at an unknown flag.
V3_ONLY = ("--config.auto-reload",)


def children(path):
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def prometheus_container(objs):
    sets = [o for o in objs if o["kind"] == "StatefulSet" and o["metadata"]["name"].endswith("-prometheus")]
    if len(sets) != 1:
        sys.exit(f"expected one *-prometheus StatefulSet, found {len(sets)}")
    containers = sets[0]["spec"]["template"]["spec"]["containers"]
    matches = [c for c in containers if c["name"] == "prometheus"]
    if len(matches) != 1:
        sys.exit(f"no container named prometheus in {sets[0]['metadata']['name']}")
    return matches[0]


def runnable_args(container, config, tsdb, listen):
    flags = [a for a in container.get("command", []) + container.get("args", []) if a.startswith("-")]
    if not flags:
        sys.exit("the prometheus container has no flags")
    out = []
    for flag in flags:
        name = flag.split("=", 1)[0]
        if name.startswith(V3_ONLY):
            print(f"  left out (v3 only): {flag}", file=sys.stderr)
        elif name == "--config.file":
            out.append(f"--config.file={config}")
        elif name == "--storage.tsdb.path":
            out.append(f"--storage.tsdb.path={tsdb}")
        elif name != "--web.listen-address":
            out.append(flag)
    # 2.42 expands ${POD_NAME} in external labels only with this feature; v3 always does.
    return out + [f"--web.listen-address={listen}", "--enable-feature=expand-external-labels"]


def write_configs(objs, directory):
    for obj in objs:
        name = obj["metadata"]["name"]
        if obj["kind"] == "ConfigMap" and name.endswith("-prometheus-config"):
            config_dir = os.path.join(directory, name)
            os.makedirs(config_dir, exist_ok=True)
            for key, text in obj["data"].items():
                with open(os.path.join(config_dir, key), "w", encoding="utf-8") as f:
                    f.write(text)
            print(os.path.join(config_dir, "prometheus.yml"))


# Outer keys of `children` for each childResources rule: `Kind.group/version`.
CHILD_KEYS = {
    "statefulsets": "StatefulSet.apps/v1",
    "deployments": "Deployment.apps/v1",
    "services": "Service.v1",
    "configmaps": "ConfigMap.v1",
    "poddisruptionbudgets": "PodDisruptionBudget.policy/v1",
    "ingresses": "Ingress.networking.k8s.io/v1",
    "serviceaccounts": "ServiceAccount.v1",
    "roles": "Role.rbac.authorization.k8s.io/v1",
    "rolebindings": "RoleBinding.rbac.authorization.k8s.io/v1",
    "persistentvolumeclaims": "PersistentVolumeClaim.v1",
}


def sync_request(objs, controllers):
    (parent,) = [o for o in objs if o["kind"] == "PrometheusReplica"]
    (controller,) = [o for o in controllers if o["kind"] == "CompositeController"]
    namespace = parent["metadata"].setdefault("namespace", "default")
    related = {"ConfigMap.v1": {}, "Secret.v1": {}}
    for obj in objs:
        if obj["kind"] in ("ConfigMap", "Secret"):
            obj = dict(obj)
            # The API server stores stringData as base64 data.
            strings = obj.pop("stringData", {})
            obj["data"] = {**obj.get("data", {}),
                           **{k: base64.b64encode(v.encode()).decode() for k, v in strings.items()}}
            related[f'{obj["kind"]}.v1'][f'{namespace}/{obj["metadata"]["name"]}'] = obj
    children = {CHILD_KEYS[rule["resource"]]: {} for rule in controller["spec"]["childResources"]}
    return {"controller": controller, "parent": parent, "children": children,
            "related": related, "finalizing": False}


def main(argv):
    if len(argv) == 6 and argv[1] == "args":
        print("\n".join(runnable_args(prometheus_container(children(argv[2])), *argv[3:])))
    elif len(argv) == 4 and argv[1] == "request":
        print(json.dumps(sync_request(children(argv[2]), children(argv[3])), indent=2))
    elif len(argv) == 4 and argv[1] == "configs":
        write_configs(children(argv[2]), argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
