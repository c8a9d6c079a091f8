#!/usr/bin/env bash
# A real Kubernetes control plane as plain processes on loopback, for the end-to-end tests:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake Nodes whose Pods
# turn Running and Ready without a container), built from the pinned Go modules in
# hack/control-plane/ and cached in the cargo target directory until a pin changes.
#
#   hack/control-plane.sh build   # build (or find cached) binaries; prints their folder
#   hack/control-plane.sh up      # build, start, wait until usable; prints the env lines
#   hack/control-plane.sh env     # export lines for a running plane (KUBECONFIG, PRO_E2E_KUBECONFIG)
#   hack/control-plane.sh down    # stop every process `up` started, by PID, and remove the state
#
# Every listener binds 127.0.0.1 on a free port. The service range exists only so that the API
# server can allocate addresses, and so does kwok's Pod range (EndpointSlices refuse loopback Pod
# addresses): nothing here sends traffic to either. Nodes get 127.0.0.1, the only address that
# the API server would ever dial on a Node's behalf (logs, exec), which the tests never ask for.
# Needs Go 1.26, openssl, python3 (free ports) and kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lib.sh
source hack/lib.sh

target="${CARGO_TARGET_DIR:-target}"
state="${PRO_CONTROL_PLANE_DIR:-$target/control-plane/cluster}"
modules=hack/control-plane
# The PersistentVolumes made on `up`: no class, and the classes the test fixtures name; fewer for the
# two classes of the volume-growth test (tests/e2e/claims.rs makes their StorageClass objects). Claims
# outlive their tests, and the whole end-to-end suite binds 107 of the class-less ones: a test whose claim
# finds none stays Pending until it times out.
pv_classes=("" fast-ssd standard)
pvs_per_class="${PRO_CONTROL_PLANE_PVS:-160}"
small_pv_classes=(e2e-expandable e2e-fixed)
pvs_per_small_class=8
nodes="${PRO_CONTROL_PLANE_NODES:-3}"

log() { printf 'control-plane: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# Build (or find cached) the binaries; prints their folder (build_pinned: keyed by the Go version and every pin).
build() {
  build_pinned "$modules" control-plane <<'TOOLS'
etcd:etcd::go.etcd.io/etcd/server/v3
kube-apiserver:kubernetes::k8s.io/kubernetes/cmd/kube-apiserver
kube-controller-manager:kubernetes::k8s.io/kubernetes/cmd/kube-controller-manager
kube-scheduler:kubernetes::k8s.io/kubernetes/cmd/kube-scheduler
kwok:kwok::sigs.k8s.io/kwok/cmd/kwok
TOOLS
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start NAME BINARY ARGS...: run in the background, log to logs/NAME.log, remember the PID.
start() {
  local name="$1"
  shift
  "$@" > "$state/logs/$name.log" 2>&1 &
  echo $! > "$state/pids/$name"
}

# wait_for WHAT SECONDS COMMAND...: retry COMMAND every half second; fail naming WHAT and its log.
wait_for() {
  local what="$1" seconds="$2" i
  shift 2
  for ((i = 0; i < seconds * 2; i++)); do
    if "$@" > /dev/null 2>&1; then return 0; fi
    for pid in "$state"/pids/*; do
      kill -0 "$(cat "$pid")" 2> /dev/null || {
        tail -n 30 "$state/logs/$(basename "$pid").log" >&2
        die "$(basename "$pid") exited while waiting for $what"
      }
    done
    sleep 0.5
  done
  die "$what not ready after ${seconds}s (logs in $state/logs)"
}

stop() {
  [[ -d "$state/pids" ]] || return 0
  local pid name
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    [[ -f "$state/pids/$name" ]] || continue
    pid="$(cat "$state/pids/$name")"
    kill -TERM "$pid" 2> /dev/null || true
    for _ in $(seq 40); do kill -0 "$pid" 2> /dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2> /dev/null || true
    rm -f "$state/pids/$name"
  done
}

# certs: a CA, the API server's serving certificate, an admin client in system:masters, and the
# service-account signing key.
certs() {
  local pki="$state/pki"
  mkdir -p "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=e2e-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2> /dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2> /dev/null
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -out "$pki/apiserver.crt" \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n') 2> /dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=e2e-admin" \
    -keyout "$pki/admin.key" -out "$pki/admin.csr" 2> /dev/null
  openssl x509 -req -in "$pki/admin.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -out "$pki/admin.crt" -extfile <(printf 'extendedKeyUsage=clientAuth\n') 2> /dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2> /dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2> /dev/null
}

kubeconfig() {
  local port="$1" pki
  pki="$(realpath "$state/pki")"
  cat > "$state/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: e2e
    cluster:
      server: https://127.0.0.1:$port
      certificate-authority: $pki/ca.crt
users:
  - name: admin
    user:
      client-certificate: $pki/admin.crt
      client-key: $pki/admin.key
contexts:
  - name: e2e
    context: {cluster: e2e, user: admin}
current-context: e2e
YAML
}

# Fake Nodes for kwok (the annotation it manages) and PersistentVolumes for the claim templates:
# no provisioner runs, so each claim binds to one of these. hostPath is never mounted: no kubelet.
objects() {
  local i class
  for ((i = 0; i < nodes; i++)); do
    cat <<YAML
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, kubernetes.io/arch: amd64, topology.kubernetes.io/zone: zone-$((i % 2)), type: kwok}
status:
  allocatable: {cpu: "64", memory: 256Gi, pods: "110"}
  capacity: {cpu: "64", memory: 256Gi, pods: "110"}
YAML
  done
  local count
  for class in "${pv_classes[@]}" "${small_pv_classes[@]}"; do
    count=$pvs_per_class
    [[ " ${small_pv_classes[*]} " == *" $class "* ]] && count=$pvs_per_small_class
    for ((i = 0; i < count; i++)); do
      cat <<YAML
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: e2e-pv-${class:-none}-$i
spec:
  capacity: {storage: 1Ti}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: "$class"
  hostPath: {path: /nonexistent/e2e-pv-${class:-none}-$i}
YAML
    done
  done
}

# The EXIT trap of `up` until everything is ready: a failed step stops what already started.
up_failed() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    log "up failed: stopping what it started"
    stop
  fi
}

up() {
  command -v kubectl > /dev/null || die "kubectl is missing"
  command -v openssl > /dev/null || die "openssl is missing"
  if [[ -d "$state/pids" ]] && [[ -n "$(ls -A "$state/pids")" ]]; then
    die "a control plane is already running from $state: run '$0 down' first"
  fi
  local dir
  dir="$(build)"
  rm -rf "$state"
  mkdir -p "$state/logs" "$state/pids" "$state/etcd"
  trap up_failed EXIT
  certs
  local etcd_port etcd_peer api_port kcm_port sched_port kwok_port pki="$state/pki"
  etcd_port="$(free_port)"
  etcd_peer="$(free_port)"
  api_port="$(free_port)"
  kcm_port="$(free_port)"
  sched_port="$(free_port)"
  kwok_port="$(free_port)"
  kubeconfig "$api_port"
  export KUBECONFIG="$state/kubeconfig"

  log "etcd on 127.0.0.1:$etcd_port"
  start etcd "$dir/etcd" --name=e2e --data-dir="$state/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
    --initial-cluster="e2e=http://127.0.0.1:$etcd_peer" \
    --unsafe-no-fsync --quota-backend-bytes=$((2 * 1024 * 1024 * 1024))
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$etcd_port/health"

  log "kube-apiserver on 127.0.0.1:$api_port"
  # Every write and its verb, for the tests that count what a sync round changed.
  cat > "$state/audit-policy.yaml" <<YAML
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    verbs: [create, update, patch, delete, deletecollection]
  - level: None
YAML
  start kube-apiserver "$dir/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --secure-port="$api_port" --advertise-address=127.0.0.1 \
    --endpoint-reconciler-type=none \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --authorization-mode=RBAC --service-cluster-ip-range=10.96.0.0/16 \
    --allow-privileged=false \
    --audit-policy-file="$state/audit-policy.yaml" --audit-log-path="$state/logs/audit.log" \
    --audit-log-format=json
  wait_for kube-apiserver 90 kubectl get --raw /readyz

  log "kube-controller-manager, kube-scheduler, kwok"
  start kube-controller-manager "$dir/kube-controller-manager" \
    --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" --authorization-kubeconfig="$KUBECONFIG" \
    --bind-address=127.0.0.1 --secure-port="$kcm_port" --leader-elect=false \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --use-service-account-credentials=false \
    --controllers=node-lifecycle-controller,statefulset-controller,deployment-controller,replicaset-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,persistentvolume-binder-controller,persistentvolumeclaim-protection-controller,persistentvolume-protection-controller,disruption-controller,endpointslice-controller,resourcequota-controller,root-ca-certificate-publisher-controller
  start kube-scheduler "$dir/kube-scheduler" \
    --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" --authorization-kubeconfig="$KUBECONFIG" \
    --bind-address=127.0.0.1 --secure-port="$sched_port" --leader-elect=false
  # kwok's own Stages at the pinned release: Nodes initialize and keep a heartbeat, Pods turn Ready.
  local stages
  stages="$(cd "$modules/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage"
  start kwok "$dir/kwok" --kubeconfig="$KUBECONFIG" \
    --config="$stages/node/fast/node-initialize.yaml,$stages/node/heartbeat/node-heartbeat.yaml" \
    --config="$stages/pod/fast/pod-ready.yaml,$stages/pod/fast/pod-complete.yaml,$stages/pod/fast/pod-delete.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip=127.0.0.1 --cidr=10.244.0.0/16 --server-address="127.0.0.1:$kwok_port"

  objects | kubectl apply --server-side -f - > /dev/null
  wait_for "ready Nodes" 60 kubectl wait --for=condition=Ready node --all --timeout=1s
  wait_for "the default ServiceAccount" 60 kubectl get serviceaccount default -n default
  trap - EXIT
  log "up: $nodes Nodes, $((pvs_per_class * ${#pv_classes[@]} + pvs_per_small_class * ${#small_pv_classes[@]})) PersistentVolumes, logs in $state/logs"
  env_lines
}

env_lines() {
  [[ -f "$state/kubeconfig" ]] || die "no control plane in $state: run '$0 up'"
  local kubeconfig
  kubeconfig="$(realpath "$state/kubeconfig")"
  printf 'export KUBECONFIG=%q\nexport PRO_E2E_KUBECONFIG=%q\nexport PRO_E2E_AUDIT_LOG=%q\n' \
    "$kubeconfig" "$kubeconfig" "$(realpath "$state/logs")/audit.log"
}

case "${1:-}" in
  build) build ;;
  up) up ;;
  env) env_lines ;;
  down)
    stop
    # Keep the logs for a look after a failed run; the rest (keys, etcd data) goes.
    [[ -d "$state" ]] && rm -rf "$state/etcd" "$state/pki" "$state/pids" "$state/kubeconfig"
    log "down"
    ;;
  *) echo "usage: $0 build|up|env|down" >&2; exit 2 ;;
esac
