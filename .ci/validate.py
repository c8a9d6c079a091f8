"""Validate Kubernetes objects against the official schemas, strictly.

Usage: validate.py FILE...   (multi-document YAML; `-` reads standard input)

Every object of a built-in kind must pass kubernetes-validate's strict schemas
for Kubernetes 1.33 (unknown keys fail). Kinds that a CRD defines have no such
schema: they must be on CRD_KINDS, and anything else without a schema fails.
"""

import sys

import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.33.0"

# Kinds defined by CRDs, checked elsewhere or not at all.
CRD_KINDS = {
    ("metacontroller.k8s.io", "CompositeController"),  # .ci/compositecontroller.py
    ("cert-manager.io", "Certificate"),
    ("cert-manager.io", "Issuer"),
    ("prometheus.robszumski.com", "PrometheusReplica"),  # deploy/crd.yaml
}


def objects(path):
    text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    return [doc for doc in yaml.safe_load_all(text) if doc]


def check(obj):
    """An error message, or None when the object passes or is skipped."""
    group = obj["apiVersion"].rpartition("/")[0]
    name = f'{obj["kind"]}/{obj["metadata"]["name"]}'
    if (group, obj["kind"]) in CRD_KINDS:
        print(f"  skip {name} (CRD kind)")
        return None
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        return f"{name}: {path}: {e.message}"
    except kubernetes_validate.SchemaNotFoundError:
        return f"{name}: no schema for {obj['apiVersion']} {obj['kind']} (add it to CRD_KINDS if a CRD defines it)"
    print(f"  ok   {name}")
    return None


def main(paths):
    failures = 0
    for path in paths:
        docs = objects(path)
        if not docs:
            print(f"FAIL {path}: no objects")
            failures += 1
        for obj in docs:
            error = check(obj)
            if error:
                print(f"FAIL {path}: {error}")
                failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
