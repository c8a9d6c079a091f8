#!/usr/bin/env bash
# The hook's TLS Secret without cert-manager: a CA and a serving certificate for the
# name Metacontroller calls (NAME.NAMESPACE) and NAME.NAMESPACE.svc, made by the
# binary's own `certs` command, as a kubernetes.io/tls Secret with `ca.crt`.
#
#   hack/gen-tls-secret.sh            # print the Secret as YAML
#   hack/gen-tls-secret.sh --apply    # create the namespace if missing, apply the Secret
#
# The CompositeController reads `ca.crt` only when it is created or changed, so
# run this before `kubectl apply -k deploy/`. Running it again makes a new CA:
# with --apply it then touches the CompositeController so Metacontroller reloads it.
#
# Environment: NAME, NAMESPACE, SECRET (defaults below); PRO_BIN, the binary
# (default: prometheus-replica-operator on PATH, else `cargo run --release`).
set -euo pipefail

name="${NAME:-prometheus-replica-operator}"
namespace="${NAMESPACE:-prometheus-replica-operator}"
secret="${SECRET:-prometheus-replica-operator-tls}"
apply=false
case "${1:-}" in
  "") ;;
  --apply) apply=true ;;
  *) echo "usage: $0 [--apply]" >&2; exit 2 ;;
esac

dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT

certs() {
  if [[ -n "${PRO_BIN:-}" ]]; then
    "$PRO_BIN" certs "$@"
  elif command -v prometheus-replica-operator > /dev/null; then
    prometheus-replica-operator certs "$@"
  else
    cargo run -q --release --locked --manifest-path "$(dirname "$0")/../Cargo.toml" -- certs "$@"
  fi
}
certs --out "$dir" --dns "$name.$namespace" --dns "$name.$namespace.svc" >&2

b64() { base64 < "$1" | tr -d '\n'; }

manifest() {
  cat <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: $secret
  namespace: $namespace
  labels:
    app.kubernetes.io/name: prometheus-replica-operator
type: kubernetes.io/tls
data:
  ca.crt: $(b64 "$dir/ca.crt")
  tls.crt: $(b64 "$dir/tls.crt")
  tls.key: $(b64 "$dir/tls.key")
YAML
}

if [[ "$apply" == false ]]; then
  manifest
  exit 0
fi

# Created, not applied: `kubectl apply -k deploy/` owns the namespace and its labels.
kubectl get namespace "$namespace" > /dev/null 2>&1 || kubectl create namespace "$namespace"
manifest | kubectl apply -f -
if kubectl get compositecontroller prometheus-replica-operator > /dev/null 2>&1; then
  # Metacontroller resolves caBundle when the CompositeController changes.
  kubectl annotate compositecontroller prometheus-replica-operator --overwrite \
    "prometheus.robszumski.com/ca-updated=$(date -u +%Y%m%dT%H%M%SZ)"
fi
