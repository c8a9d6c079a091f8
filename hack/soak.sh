#!/usr/bin/env bash
# Soak: REQUESTS sync requests (default 1,000,000) against the release binary on loopback, stopping early at
# MINUTES (default 10), printing the hook's resident memory every few seconds and its peak at the end. The
# goal is flat memory: the last samples no higher than those after warm-up.
#
#   hack/soak.sh                 # needs h2load: apt-get install nghttp2-client; and python3, curl
#
# Environment: REQUESTS, MINUTES, N (--max-in-flight, default 4; h2load runs N clients so that nearly every
# request is a 200), BIN (default: build the release binary). Exits 1 if a request failed or errored.
set -euo pipefail
cd "$(dirname "$0")/.."

requests="${REQUESTS:-1000000}"
minutes="${MINUTES:-10}"
n="${N:-4}"
request=hack/examples/sync-request.json
# Requests per h2load run: memory is printed between runs too, and the time bound checked.
chunk=50000

# shellcheck source=hack/lib.sh
source hack/lib.sh
require_tools soak h2load python3 curl
release_binary

work="$(mktemp -d)"
pid=""
sampler=""
cleanup() {
  if [[ -n "$sampler" ]]; then kill "$sampler" 2> /dev/null || true; fi
  if [[ -n "$pid" ]]; then kill "$pid" 2> /dev/null || true; fi
  wait 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port="$(free_port)"
admin="$(free_port)"
"$BIN" serve --addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$admin" --max-in-flight "$n" \
  --log-format json --log-level warn 2> "$work/server.log" &
pid=$!
for _ in $(seq 100); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$admin/readyz" 2> /dev/null; then break; fi
  sleep 0.1
done
if ! curl -fsS -o /dev/null "http://127.0.0.1:$admin/readyz"; then
  echo "soak: the server did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
fi

status_kib() { awk -v field="$1:" '$1 == field { print $2 }' "/proc/$pid/status"; }

started=$SECONDS
deadline=$((SECONDS + 60 * minutes))
echo "soak: $requests requests or $minutes minutes, whichever comes first; $n clients, --max-in-flight $n"
echo "seconds  requests  VmRSS KiB"
(
  while kill -0 "$pid" 2> /dev/null; do
    printf '%7d  %8s  %9s\n' $((SECONDS - started)) "$(cat "$work/sent" 2> /dev/null || echo 0)" \
      "$(status_kib VmRSS)"
    sleep 5
  done
) &
sampler=$!

sent=0
echo 0 > "$work/sent"
runs=0
while [[ $sent -lt $requests && $SECONDS -lt $deadline ]]; do
  this=$((requests - sent < chunk ? requests - sent : chunk))
  # Each run is bounded by the time left too.
  timeout $((deadline - SECONDS + 5)) h2load -n "$this" -c "$n" -m 1 -d "$request" \
    -H 'content-type: application/json' "https://127.0.0.1:$port/sync" > "$work/run-$runs.txt" 2>&1 || true
  done_now="$(awk '/^requests:/ { print $6 }' "$work/run-$runs.txt")"
  sent=$((sent + ${done_now:-0}))
  echo "$sent" > "$work/sent"
  runs=$((runs + 1))
  if [[ -z "$done_now" || "$done_now" -eq 0 ]]; then
    echo "soak: h2load made no request:" >&2
    cat "$work/run-$((runs - 1)).txt" >&2
    break
  fi
done
kill "$sampler" 2> /dev/null || true
wait "$sampler" 2> /dev/null || true
sampler=""

read -r finished errored timeout ok c4 c5 < <(awk '
  /^requests:/ { d += $6; e += $12; t += $14 }
  /^status codes:/ { ok += $3; c4 += $7; c5 += $9 }
  END { print d + 0, e + 0, t + 0, ok + 0, c4 + 0, c5 + 0 }' "$work"/run-*.txt)
elapsed=$((SECONDS - started))
echo "soak: $finished requests in ${elapsed}s ($((finished / (elapsed > 0 ? elapsed : 1))) req/s, $runs h2load runs):" \
  "$ok 2xx, $c4 4xx (429s from --max-in-flight), $c5 5xx, $errored errored, $timeout timed out"
echo "soak: VmRSS at the end $(status_kib VmRSS) KiB, peak (VmHWM) $(status_kib VmHWM) KiB"
if [[ $errored -gt 0 || $timeout -gt 0 || $c5 -gt 0 ]]; then
  echo "soak: FAILED: requests failed"
  exit 1
fi
