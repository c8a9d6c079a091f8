#!/usr/bin/env bash
# End to end on a throwaway kind cluster: Metacontroller v4.17.2, the hook built
# from this tree, deploy/, a MinIO bucket and the 2018 example, until
# `kubectl get promrep example` shows Running. Needs docker, kind, kubectl, cargo.
#
#   hack/e2e-kind.sh              # deletes the cluster on exit
#   KEEP_CLUSTER=1 hack/e2e-kind.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cluster="${CLUSTER:-prometheus-replica-operator-e2e}"
image="ghcr.io/prometheus-replica-operator/prometheus-replica-operator:0.1.0"
metacontroller="https://github.com/metacontroller/metacontroller/manifests/production?ref=v4.17.2"
timeout="${TIMEOUT:-600}"

for tool in docker kind kubectl cargo; do
  command -v "$tool" > /dev/null || { echo "e2e: $tool is not installed" >&2; exit 1; }
done

cleanup() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "e2e: failed; state of the cluster:" >&2
    kubectl get promrep,statefulsets,deployments,pods -A -o wide >&2 || true
    kubectl -n prometheus-replica-operator logs -l app.kubernetes.io/name=prometheus-replica-operator --tail=50 >&2 || true
    kubectl -n metacontroller logs statefulset/metacontroller --tail=50 >&2 || true
  fi
  if [[ "${KEEP_CLUSTER:-0}" == 1 ]]; then
    echo "e2e: keeping kind cluster $cluster" >&2
  else
    kind delete cluster --name "$cluster" || true
  fi
  exit "$rc"
}

step() { printf '\n=== %s ===\n' "$1"; }

step "kind cluster $cluster"
kind create cluster --name "$cluster" --wait 120s
trap cleanup EXIT
kubectl config use-context "kind-$cluster"

step "Metacontroller v4.17.2"
kubectl apply -k "$metacontroller"
kubectl -n metacontroller rollout status statefulset/metacontroller --timeout=300s

step "image $image"
docker build -t "$image" .
kind load docker-image "$image" --name "$cluster"

step "TLS Secret"
hack/gen-tls-secret.sh --apply

step "deploy/"
kubectl apply -k deploy/
kubectl wait --for=condition=Established --timeout=60s crd/prometheusreplicas.prometheus.robszumski.com
kubectl -n prometheus-replica-operator rollout status deployment/prometheus-replica-operator --timeout=180s

step "MinIO bucket"
kubectl apply -f hack/e2e-minio.yaml
kubectl -n minio wait --for=condition=Complete job/minio-bucket --timeout=300s

step "the 2018 example"
kubectl apply -k deploy/examples
# MinIO here speaks plain HTTP: the 2018 Secret says so with its optional s3_insecure key.
kubectl -n default patch secret s3-bucket --type merge -p '{"stringData":{"s3_insecure":"true"}}'

step "waiting for phase Running (up to ${timeout}s)"
deadline=$((SECONDS + timeout))
phase=""
while [[ "$phase" != Running ]]; do
  if (( SECONDS > deadline )); then
    echo "e2e: example is still ${phase:-without a phase} after ${timeout}s" >&2
    exit 1
  fi
  sleep 5
  phase="$(kubectl -n default get promrep example -o jsonpath='{.status.phase}' 2>/dev/null || true)"
  echo "phase: ${phase:-<none>}"
done

step "result"
kubectl -n default get promrep example
kubectl -n default get statefulsets,deployments,services,configmaps,poddisruptionbudgets,ingresses \
  -l app.kubernetes.io/instance=example
kubectl -n default get promrep example -o yaml
echo "e2e: example is Running"
