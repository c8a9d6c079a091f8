#!/usr/bin/env bash
# The stack in motion: the hook's rendered stack run by the real Prometheus and Thanos, on this
# machine, no container engine needed. Builds Prometheus, promtool and Thanos from the pinned Go
# modules in hack/stack/ (cached in the cargo target directory until a pin changes), starts the
# e2e control plane (hack/control-plane.sh), and runs hack/stack/stack.py: the hook renders two
# PrometheusReplicas, the API server's controllers make their Pods, and hack/stack/runner.py runs
# each Pod's containers as processes in network, PID and mount namespaces of their own, on a
# bridge that exists only inside those namespaces, with cluster DNS and an S3 object store
# beside them. Everything it starts is stopped by PID, on success and on failure.
#
# Needs root (namespaces), Go 1.26+, python3, openssl, iproute2 and memcached. The last line is
# `stack: N passed, M failed`.
#
#   hack/stack-local.sh            # the whole run (about 10 minutes once built)
#   hack/stack-local.sh build      # only build (or find cached) the binaries; prints their folder
#   STACK_HOOK=BINARY hack/stack-local.sh   # render with that hook binary rather than build the debug one
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lib.sh
source hack/lib.sh

target="${CARGO_TARGET_DIR:-target}"
modules=hack/stack
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

# Thanos's release builds use the tags netgo and slicelabels; without slicelabels every sidecar
# panics on the querier's first gRPC call. The oldest supported versions (for the `other` stack)
# predate slicelabels: their labels are slices without a tag.
build() {
  build_pinned "$modules" stack <<'TOOLS'
prometheus:prometheus:netgo:github.com/prometheus/prometheus/cmd/prometheus
promtool:prometheus:netgo:github.com/prometheus/prometheus/cmd/promtool
thanos:thanos:netgo,slicelabels:github.com/thanos-io/thanos/cmd/thanos
prometheus-oldest:prometheus-oldest:netgo:github.com/prometheus/prometheus/cmd/prometheus
thanos-oldest:thanos-oldest:netgo:github.com/thanos-io/thanos/cmd/thanos
TOOLS
}

if [[ "${1:-}" == build ]]; then
  build
  exit 0
fi

[[ "$(id -u)" == 0 ]] || die "needs root: each pod runs in namespaces of its own"
for tool in ip unshare openssl python3 memcached; do
  command -v "$tool" > /dev/null || die "$tool is missing"
done

bins="$(build)"
venv="$target/stack/venv"
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$modules/requirements.txt"
PATH="$(realpath "$venv")/bin:$PATH"
export PATH
# The hook it renders with: STACK_HOOK when set (.ci/run builds it first, as this cargo build would wait
# for the lock that a clippy beside it holds), else the debug binary, built here.
if [[ -z "${STACK_HOOK:-}" ]]; then
  cargo build --locked -q --bin prometheus-replica-operator
  STACK_HOOK="$target/debug/prometheus-replica-operator"
fi
# A copy: the run renders with one hook throughout, whatever is built meanwhile.
hook="$target/stack/hook"
cp "$STACK_HOOK" "$hook"

state="$target/stack/run"
export PRO_CONTROL_PLANE_DIR="$target/stack/cluster"
# What stack.py noted it started ("pid PID NAME", "netns NAME"), stopped here too in case it was
# killed before its own cleanup: each PID only while it still runs the program noted.
cleanup() {
  local kind value name
  [[ -f "$state/started" ]] || return 0
  while read -r kind value name; do
    if [[ "$kind" == pid && "$(cat "/proc/$value/comm" 2> /dev/null)" == "$name" ]]; then
      kill -KILL "$value" 2> /dev/null || true
    fi
  done < "$state/started"
  while read -r kind value name; do
    if [[ "$kind" == netns ]]; then ip netns del "$value" 2> /dev/null || true; fi
  done < "$state/started"
}
stack_pid=""
tail_pid=""
finish() {
  local rc=$?
  if [[ -n "$stack_pid" ]]; then
    kill -TERM "$stack_pid" 2> /dev/null || true
    wait "$stack_pid" 2> /dev/null || true
  fi
  # tail ends within a second of the run (--pid), having printed its last lines.
  if [[ -n "$tail_pid" ]]; then wait "$tail_pid" 2> /dev/null || true; fi
  cleanup
  hack/control-plane.sh down > /dev/null 2>&1 || true
  if ! grep -q '^stack: [0-9]* passed, [0-9]* failed$' "$state.out" 2> /dev/null; then
    echo "stack: 0 passed, 1 failed"
    rc=$((rc == 0 ? 1 : rc))
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 143' TERM INT
rm -rf "$state" "$state.out"
eval "$(hack/control-plane.sh up)"
export KUBECONFIG
# The file exists before tail opens it: the background job's redirection may come later.
: > "$state.out"
"$venv/bin/python" "$modules/stack.py" "$hook" "$bins" "$state" > "$state.out" 2>&1 &
stack_pid=$!
# tail in the background: bash runs a trap (a TERM from .ci/run giving up) only between commands, so a
# foreground tail would keep the run going to its end; `wait` returns at once.
tail -n +1 -f --pid="$stack_pid" "$state.out" &
tail_pid=$!
wait "$stack_pid"
stack_pid=""
