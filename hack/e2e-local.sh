#!/usr/bin/env bash
# The end-to-end tests on this machine, no container engine needed: starts the real control plane
# (hack/control-plane.sh up), runs `cargo test --test e2e` against it, and stops it again, also on
# failure. Needs Go 1.26+, kubectl, openssl and python3 besides Rust. The last line is
# `e2e: N passed, M failed`.
#
#   hack/e2e-local.sh                 # every end-to-end test
#   hack/e2e-local.sh steady          # only tests whose name contains "steady"
#   KEEP_CLUSTER=1 hack/e2e-local.sh  # leave the control plane running (hack/control-plane.sh env)
set -euo pipefail
cd "$(dirname "$0")/.."

log="$(mktemp)"
finish() {
  local rc=$?
  if [[ "${KEEP_CLUSTER:-0}" == 1 ]]; then
    echo "e2e: keeping the control plane: eval \"\$(hack/control-plane.sh env)\"" >&2
  else
    hack/control-plane.sh down || true
  fi
  # cargo's own summary line, as the plain count line CI reads.
  local passed failed
  passed="$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' "$log" | tail -n 1)"
  failed="$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' "$log" | tail -n 1)"
  rm -f "$log"
  if [[ -z "$passed" ]]; then
    echo "e2e: the tests did not run (see above)"
    exit $((rc == 0 ? 1 : rc))
  fi
  echo "e2e: $passed passed, $failed failed"
  exit "$rc"
}
trap finish EXIT

# Build first, so that the control plane does not idle through a compile.
cargo test --locked --test e2e --no-run
env_lines="$(hack/control-plane.sh up)"
eval "$env_lines"
export PRO_E2E_KUBECONFIG
# Two at a time: each test converges a whole stack, and the machine has two cores.
cargo test --locked --test e2e -- --test-threads="${E2E_THREADS:-2}" "$@" 2>&1 | tee "$log"
