#!/usr/bin/env bash
# Load and faults against the release binary on loopback, with h2load and the 2018 sync request:
#
#   1. overload: 2xN concurrent requests (HTTP/2, then HTTP/1.1) against --max-in-flight N answer only 200
#      and 429, every 429 from the in-flight limit (which sets Retry-After), none failed at the network level;
#   2. the same while the certificate is rotated twice, swapped in place as a Secret volume does: no request
#      fails;
#   3. SIGTERM during load: every request the server took is answered, and it exits 0;
#   4. IDLE idle TLS connections (half HTTP/1.1, half HTTP/2 after the preface), under and over
#      --max-connections: a sync still gets 200 within Metacontroller's 10 s.
#
#   hack/load.sh                 # needs h2load: apt-get install nghttp2-client; and python3, curl
#
# Environment: N (default 4), SECONDS_PER_RUN (default 10), IDLE (default 1000), BIN (default: build the
# release binary). Prints the figures; exits 1 if any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

n="${N:-4}"
run_seconds="${SECONDS_PER_RUN:-10}"
idle="${IDLE:-1000}"
request=hack/examples/sync-request.json
clients=$((2 * n))

# shellcheck source=hack/lib.sh
source hack/lib.sh
require_tools load h2load python3 curl
release_binary

work="$(mktemp -d)"
pid=""
pids=()
cleanup() {
  local p
  for p in "${pids[@]}" "$pid"; do
    if [[ -n "$p" ]]; then kill "$p" 2> /dev/null || true; fi
  done
  wait 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
check() { # check DESCRIPTION COMMAND...: run the test command, print ok or FAILED
  if "${@:2}"; then
    echo "  ok: $1"
  else
    echo "  FAILED: $1"
    failures=$((failures + 1))
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Certificates as a Secret volume holds them: tls.crt and tls.key are links through ..data, a link to a
# directory, replaced in one rename (the kubelet's atomic writer).
live="$work/live"
rotate() {
  local next
  next="$work/certs-$(date +%s%N)"
  "$BIN" certs --out "$next" --dns localhost --dns 127.0.0.1 2> /dev/null
  ln -sfn "$next" "$live/..data.new"
  mv -T "$live/..data.new" "$live/..data"
}
mkdir -p "$live"
rotate
ln -s ..data/tls.crt "$live/tls.crt"
ln -s ..data/tls.key "$live/tls.key"
ln -s ..data/ca.crt "$live/ca.crt"

port=""
admin=""
level=warn
start() { # start [serve flags...]: the server on free loopback ports, waiting until ready
  port="$(free_port)"
  admin="$(free_port)"
  "$BIN" serve --addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$admin" \
    --tls-cert "$live/tls.crt" --tls-key "$live/tls.key" --max-in-flight "$n" \
    --log-format json --log-level "$level" "$@" 2>> "$work/server.log" &
  pid=$!
  local i
  for i in $(seq 100); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$admin/readyz" 2> /dev/null; then return; fi
    sleep 0.1
  done
  echo "load: the server did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
}

stop() {
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
}

metric() { # metric SAMPLE: its value on /metrics, 0 when absent
  curl -fsS "http://127.0.0.1:$admin/metrics" |
    awk -v name="prometheus_replica_operator_$1" '$1 == name { v = $2 } END { print v + 0 }'
}

requests_other_than_200_and_429() {
  curl -fsS "http://127.0.0.1:$admin/metrics" |
    awk '/^prometheus_replica_operator_requests_total/ && !/code="(200|429)"/ { s += $2 } END { print s + 0 }'
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
peak_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status"; }

h2load_run() { # h2load_run OUTPUT [h2load flags...]: POST the sync request to the hook
  local output="$1"
  shift
  h2load "$@" -d "$request" -H 'content-type: application/json' "https://127.0.0.1:$port/sync" \
    > "$output" 2>&1 || true
}

# Sums of h2load's counters over one or more outputs: done, errored, timeout, 2xx, 4xx, 5xx.
h2load_sums() {
  awk '/^requests:/ { done += $6; errored += $12; timeout += $14 }
       /^status codes:/ { ok += $3; c4 += $7; c5 += $9 }
       END { print done + 0, errored + 0, timeout + 0, ok + 0, c4 + 0, c5 + 0 }' "$@"
}

# 40 requests with curl beside h2load, to see the 429s' headers: one line each into FILE, the status code
# and, for a 429, whether Retry-After came with it.
sample_retry_after() {
  local i headers status
  for i in $(seq 40); do
    headers="$(curl -sk -o /dev/null -D - -H 'Content-Type: application/json' \
      --data-binary "@$request" "https://127.0.0.1:$port/sync" || true)"
    status="$(awk 'NR == 1 { print $2 }' <<< "$headers")"
    if [[ "$status" == 429 ]]; then
      if grep -qi '^retry-after: 1' <<< "$headers"; then status="429-with"; else status="429-without"; fi
    fi
    echo "$status"
  done > "$1"
}

echo "== 1. overload: $clients concurrent requests against --max-in-flight $n, ${run_seconds}s each"
for proto in h2 h1; do
  start
  flags=(-D "$run_seconds" -c "$clients" -m 1)
  if [[ "$proto" == h1 ]]; then flags+=(--h1); fi
  h2load_run "$work/overload-$proto.txt" "${flags[@]}" &
  load=$!
  pids+=("$load")
  sleep 1
  sample_retry_after "$work/samples-$proto.txt"
  wait "$load"
  curl200="$(grep -c '^200$' "$work/samples-$proto.txt" || true)"
  curl429="$(grep -c '^429-' "$work/samples-$proto.txt" || true)"
  without="$(grep -c '^429-without$' "$work/samples-$proto.txt" || true)"
  read -r finished errored timeout ok c4 c5 < <(h2load_sums "$work/overload-$proto.txt")
  s200="$(metric 'requests_total{route="/sync",code="200"}')"
  s429="$(metric 'requests_total{route="/sync",code="429"}')"
  throttled="$(metric throttled_requests_total)"
  other="$(requests_other_than_200_and_429)"
  echo "$proto: h2load: $finished done, $ok 2xx, $c4 4xx, $c5 5xx, $errored errored, $timeout timed out" \
    "($(awk '/^finished/ { print $4, $5 }' "$work/overload-$proto.txt" | tr -d ,))"
  echo "$proto: server: $s200 answered 200, $s429 answered 429, $throttled throttled, $other other;" \
    "curl beside it: $curl200 answered 200, $curl429 answered 429, $without of them without Retry-After"
  check "$proto: no request errored or timed out" test "$errored" -eq 0 -a "$timeout" -eq 0
  # h2load stops counting at the end of its duration: the server may have answered up to one request per
  # client more than it counted.
  uncounted=$((s200 + s429 - ok - c4 - curl200 - curl429))
  check "$proto: only 200 and 429, as many as h2load and curl got ($uncounted left at the end)" \
    test "$c5" -eq 0 -a "$other" -eq 0 -a "$uncounted" -ge 0 -a "$uncounted" -le "$clients"
  check "$proto: every 429 from the in-flight limit, which sets Retry-After" test "$s429" -eq "$throttled"
  check "$proto: no 429 seen by curl without Retry-After" test "$without" -eq 0
  stop
done

echo "== 2. certificate rotation during load: rotated twice, a new connection per 100 requests"
start
touch "$work/rotating"
(
  i=0
  while [[ -e "$work/rotating" && $i -lt 1000 ]]; do
    h2load_run "$work/rotation-$i.txt" -n $((100 * clients)) -c "$clients" -m 1
    i=$((i + 1))
  done
) &
load=$!
pids+=("$load")
for round in 1 2; do
  sleep $((run_seconds / 3 + 1))
  rotate
  for i in $(seq 100); do
    if [[ "$(metric tls_reloads_total)" -ge "$round" ]]; then break; fi
    sleep 0.1
  done
done
sleep $((run_seconds / 3 + 1))
rm -f "$work/rotating"
wait "$load"
read -r finished errored timeout ok c4 c5 < <(h2load_sums "$work"/rotation-*.txt)
reloads="$(metric tls_reloads_total)"
handshake_failures="$(metric tls_handshake_failures_total)"
served_new="$(curl -s -o /dev/null -w '%{http_code}' --cacert "$live/ca.crt" -H 'Content-Type: application/json' \
  --data-binary "@$request" "https://localhost:$port/sync" || true)"
echo "h2load: $finished done in $(find "$work" -name 'rotation-*.txt' | wc -l) runs, $ok 2xx, $c4 4xx, $c5 5xx," \
  "$errored errored, $timeout timed out; server: $reloads reloads, $handshake_failures handshake failures;" \
  "a client trusting only the newest CA: $served_new"
check "rotation: two reloads" test "$reloads" -ge 2
check "rotation: no request failed" test "$errored" -eq 0 -a "$timeout" -eq 0 -a "$c5" -eq 0 -a "$handshake_failures" -eq 0
check "rotation: the newest certificate is served" test "$served_new" = 200
stop

echo "== 3. SIGTERM during load"
level=info
start
level=warn
h2load_run "$work/sigterm.txt" -D "$run_seconds" -c "$clients" -m 1 &
load=$!
pids+=("$load")
sleep $((run_seconds / 2))
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
pid=""
wait "$load"
read -r finished errored timeout ok c4 c5 < <(h2load_sums "$work/sigterm.txt")
logged="$(grep -c '"message":"request"' "$work/server.log" || true)"
echo "exit code $code; the server answered $logged requests and h2load received $((ok + c4 + c5))" \
  "($ok 2xx, $c4 4xx, $c5 5xx); $errored not started or cut after the listener closed"
check "SIGTERM: exit code 0" test "$code" -eq 0
check "SIGTERM: every request the server took was answered" test "$logged" -eq $((ok + c4 + c5))
check "SIGTERM: no 5xx" test "$c5" -eq 0
: > "$work/server.log"

cat > "$work/idle.py" << 'EOF'
"""Open COUNT TLS connections, half HTTP/1.1 saying nothing, half HTTP/2 sending only the preface; hold them
HOLD seconds; print how many connected, and how many the server closed."""
import asyncio
import ssl
import sys

host, port, count, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
stats = {"connected": 0, "never connected": 0, "closed by the server": 0, "open at the end": 0}


def context(alpn):
    # Made once: each one loads the system's CA store.
    made = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    made.check_hostname = False
    made.verify_mode = ssl.CERT_NONE
    made.set_alpn_protocols([alpn])
    return made


contexts = {False: context("http/1.1"), True: context("h2")}


async def one(i, deadline):
    loop = asyncio.get_running_loop()
    h2 = i % 2 == 1
    context = contexts[h2]
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context), deadline - loop.time())
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        stats["never connected"] += 1
        return
    stats["connected"] += 1
    try:
        if h2:
            writer.write(preface)
            await writer.drain()
        while await asyncio.wait_for(reader.read(65536), deadline - loop.time()):
            pass
        stats["closed by the server"] += 1
    except asyncio.TimeoutError:
        stats["open at the end"] += 1
    except (OSError, ssl.SSLError):
        stats["closed by the server"] += 1
    writer.close()


async def main():
    deadline = asyncio.get_running_loop().time() + hold
    await asyncio.gather(*(one(i, deadline) for i in range(count)))
    print(", ".join(f"{v} {k}" for k, v in stats.items()))


asyncio.run(main())
EOF
# One file descriptor per connection on each side.
ulimit -n "$(ulimit -Hn)" 2> /dev/null || true

for limit in 1024 256; do
  echo "== 4. $idle idle TLS connections for 12s, --max-connections $limit"
  start --max-connections "$limit"
  before="$(rss_kib)"
  python3 "$work/idle.py" 127.0.0.1 "$port" "$idle" 12 > "$work/idle.txt" &
  holder=$!
  pids+=("$holder")
  sleep 4
  open_now="$(metric connections)"
  during="$(rss_kib)"
  answer="$(curl -sk -o /dev/null -w '%{http_code} %{time_total}' --max-time 10 -H 'Content-Type: application/json' \
    --data-binary "@$request" "https://127.0.0.1:$port/sync" || true)"
  wait "$holder"
  echo "connections open at 4s: $open_now; RSS ${before} KiB before, ${during} KiB with them;" \
    "a sync meanwhile: ${answer% *} in ${answer#* }s; idle clients: $(cat "$work/idle.txt");" \
    "limit reached $(metric connection_limit_reached_total) times; peak RSS $(peak_kib) KiB"
  check "idle, --max-connections $limit: a sync answered 200 within 10 s" test "${answer% *}" = 200
  stop
done

if [[ $failures -gt 0 ]]; then
  echo "load: $failures checks FAILED"
  exit 1
fi
echo "load: all checks passed"
