#!/usr/bin/env bash
# The idle cost of the hook: CPU time used by each given binary over the same SECONDS (default 120),
# serving from certificate files (so the rotation watch runs) with no request at all. Compare an old
# and a new binary in one run: the machine's noise then falls on both.
#
#   hack/idle-cpu.sh OLD_BINARY NEW_BINARY    # prints `BINARY: N ms of CPU per minute` for each
#
# CPU time is summed over the live threads' schedstat (nanoseconds); a thread that exits during the
# window takes its time with it, which counts against the binary that keeps its threads.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 ]] || { echo "usage: $0 BINARY [BINARY...]" >&2; exit 2; }
seconds="${SECONDS_IDLE:-120}"
dir="$(mktemp -d)"
pids=()
finish() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  rm -rf "$dir"
}
trap finish EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {print s}'; }

"$1" certs --out "$dir" --dns localhost > /dev/null 2>&1
for bin in "$@"; do
  "$bin" serve --addr "127.0.0.1:$(free_port)" --admin-addr "127.0.0.1:$(free_port)" \
    --tls-cert "$dir/tls.crt" --tls-key "$dir/tls.key" > /dev/null 2>&1 &
  pids+=("$!")
done
sleep 2
before=()
for pid in "${pids[@]}"; do before+=("$(cpu_ns "$pid")"); done
sleep "$seconds"
bins=("$@")
for i in "${!pids[@]}"; do
  used=$(($(cpu_ns "${pids[$i]}") - before[i]))
  echo "${bins[$i]}: $((used * 60 / seconds / 1000000)) ms of CPU per minute"
done
