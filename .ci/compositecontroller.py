"""Check CompositeControllers against Metacontroller's own CRD schema, with unknown keys forbidden.

Usage: compositecontroller.py CRD FILE [RENDERED...]

The API server prunes a key the schema does not know, so a typo (`resyncPeriod`,
`responseUnmarshalMode`) is dropped silently. Here every object in the schema
that lists `properties` gets `additionalProperties: false`, so a typo fails.
Each hook must call a Service of FILE on its port, and trust the CA of a Secret
that a Deployment of FILE mounts. With RENDERED files (the hook's children),
every child's apiVersion and kind must also match a `childResources` rule:
Metacontroller deletes any other child.
"""

import sys

import jsonschema
import yaml

# Kind -> resource for every kind the hook may render.
RESOURCES = {
    "StatefulSet": "statefulsets",
    "Deployment": "deployments",
    "Service": "services",
    "ConfigMap": "configmaps",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "Ingress": "ingresses",
    "ServiceAccount": "serviceaccounts",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "PersistentVolumeClaim": "persistentvolumeclaims",
}


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def closed(schema):
    """The schema with `additionalProperties: false` wherever `properties` stands alone."""
    if isinstance(schema, dict):
        schema = {key: closed(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    return schema


def compositecontroller_schema(crd_path):
    for crd in load_all(crd_path):
        if crd["spec"]["names"]["kind"] == "CompositeController":
            (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
            return closed(version["schema"]["openAPIV3Schema"])
    sys.exit(f"{crd_path}: no CompositeController CRD")


def wiring(cc, objs):
    """Errors where a hook points at no Service port or at a CA Secret no hook pod mounts."""
    services = {(o["metadata"].get("namespace"), o["metadata"]["name"]): {p["port"] for p in o["spec"]["ports"]}
                for o in objs if o["kind"] == "Service"}
    mounted = {(o["metadata"].get("namespace"), v["secret"]["secretName"])
               for o in objs if o["kind"] == "Deployment"
               for v in o["spec"]["template"]["spec"].get("volumes", []) if "secret" in v}
    errors = []
    for hook, spec in cc["spec"].get("hooks", {}).items():
        webhook = spec.get("webhook", {})
        service = webhook.get("service")
        if service and service.get("port", 80) not in services.get((service["namespace"], service["name"]), set()):
            errors.append(f"hooks.{hook}: no Service {service['namespace']}/{service['name']} with port {service.get('port')}")
        ref = webhook.get("caBundle", {}).get("secretRef")
        if ref and (ref["namespace"], ref["name"]) not in mounted:
            errors.append(f"hooks.{hook}: caBundle Secret {ref['namespace']}/{ref['name']} is mounted by no Deployment")
    return errors


def main(crd_path, path, rendered):
    validator = jsonschema.Draft7Validator(compositecontroller_schema(crd_path))
    objs = load_all(path)
    controllers = [o for o in objs if o.get("kind") == "CompositeController"]
    if not controllers:
        print(f"FAIL {path}: no CompositeController")
        return 1
    failures = 0
    for cc in controllers:
        name = cc["metadata"]["name"]
        before = failures
        for error in validator.iter_errors(cc):
            where = ".".join(str(p) for p in error.absolute_path) or "(top)"
            print(f"FAIL CompositeController/{name}: {where}: {error.message}")
            failures += 1
        for error in wiring(cc, objs):
            print(f"FAIL CompositeController/{name}: {error}")
            failures += 1
        rules = {(r["apiVersion"], r["resource"]) for r in cc["spec"].get("childResources", [])}
        for rendered_path in rendered:
            for child in load_all(rendered_path):
                rule = (child["apiVersion"], RESOURCES.get(child["kind"], "?"))
                if rule not in rules:
                    print(f"FAIL {rendered_path}: {child['kind']}/{child['metadata']['name']}: "
                          f"no childResources rule {rule[0]} {rule[1]} in CompositeController/{name}")
                    failures += 1
        if failures == before:
            print(f"  ok   CompositeController/{name}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
