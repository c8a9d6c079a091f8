#!/usr/bin/env bash
# The hook against its floor (examples/floor.rs: same tokio + hyper + rustls stack, answers every POST with a
# precomputed copy of the hook's answer), over TLS on loopback, driven by h2load with HTTP/1.1. Three servers in
# turns, ROUNDS times: `cold`, the hook computing every answer (`--memo-bytes 0`); `memo`, the hook as shipped,
# whose memo answers the repeated request after its first; and the floor. Every request of a run is the same,
# as Metacontroller's resyncs of an unchanged parent are.
# Prints for each, per round: requests per second at full load (8 connections) and server CPU time per request
# (utime + stime from /proc/PID/stat); then the median of the rounds with their range (the machine's noise), the
# ratios to the floor of the same round, p50/p99 latency at full load and at a fixed rate (last round), and for
# the hook its peak RSS (VmHWM) and the time from spawn to the first `/readyz` 200.
#
# Usage: hack/bench.sh [SYNC_REQUEST_JSON]          (default: hack/examples/sync-request.json)
# Environment: ROUNDS (default 3), REQUESTS (full-load requests per server, default 20000), RATE (requests per
# second of the paced run, default 1000), PACED_SECONDS (default 5), HOOK_PORT/ADMIN_PORT/FLOOR_PORT (default
# 18443/18080/19443).
#
# Needs cargo, h2load (Debian package nghttp2-client) and awk; installs nothing. For people, not for CI: the
# figures depend on the machine and on whatever else runs on it.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in cargo h2load awk sort; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "bench.sh: missing: ${missing[*]}" >&2
  echo "  h2load: apt-get install nghttp2-client; cargo: https://rustup.rs" >&2
  exit 2
fi

request=${1:-hack/examples/sync-request.json}
rounds=${ROUNDS:-3}
requests=${REQUESTS:-20000}
rate=${RATE:-1000}
paced_seconds=${PACED_SECONDS:-5}
hook_port=${HOOK_PORT:-18443}
admin_port=${ADMIN_PORT:-18080}
floor_port=${FLOOR_PORT:-19443}
clients=8
[[ -r $request ]] || { echo "bench.sh: cannot read $request" >&2; exit 2; }

echo "building (release)..." >&2
cargo build --release --quiet --bin prometheus-replica-operator --example floor
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
hook_bin=$target/release/prometheus-replica-operator
floor_bin=$target/release/examples/floor

work=$(mktemp -d)
pid=
stop() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  pid=
}
trap 'stop; rm -rf "$work"' EXIT

# 0 when PORT on loopback accepts a connection and, with PATH, answers `GET PATH` with 200. Bash's /dev/tcp
# keeps the poll in-process, so the cold start is not measured in curl start-ups.
answers() {
  local port=$1 path=${2:-} status=
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  if [[ -n $path ]]; then
    printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3
    IFS= read -r -t 2 status <&3 || status=
  fi
  exec 3>&-
  [[ -z $path || $status == "HTTP/1.1 200"* ]]
}

# Waits (at most 10 s) until `answers` succeeds; prints the milliseconds since START_NS.
wait_ready() {
  local start_ns=$1 port=$2 path=${3:-} i
  for ((i = 0; i < 5000; i++)); do
    if answers "$port" "$path"; then
      echo $((($(date +%s%N) - start_ns) / 1000000))
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "bench.sh: the server exited; see $work" >&2; return 1; }
    sleep 0.002
  done
  echo "bench.sh: not ready after 10 s" >&2
  return 1
}

# utime + stime of PID, in clock ticks.
cpu_ticks() {
  local stat rest fields
  stat=$(<"/proc/$1/stat")
  rest=${stat##*) }
  read -ra fields <<<"$rest"
  echo $((fields[11] + fields[12]))
}

# p50 and p99 in milliseconds from an h2load --log-file (third column: microseconds to the end of the response).
percentiles() {
  cut -f3 "$1" | sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "- -"; exit }
    p50 = v[int(NR * 0.50) > 0 ? int(NR * 0.50) : 1]; p99 = v[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1]
    printf "%.2f %.2f\n", p50 / 1000, p99 / 1000 }'
}

# Checks that every request of an h2load run succeeded with a 2xx, and prints its requests per second.
throughput() {
  local out=$1
  if ! grep -Eq '^requests: ([0-9]+) total, [0-9]+ started, \1 done, \1 succeeded, 0 failed, 0 errored' "$out" ||
    ! grep -Eq '^status codes: [0-9]+ 2xx, 0 3xx, 0 4xx, 0 5xx' "$out"; then
    echo "bench.sh: some requests failed:" >&2
    grep -E '^(requests|status codes):' "$out" >&2
    return 1
  fi
  sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$out"
}

load() {
  h2load --h1 -c "$clients" -t 1 -d "$request" -H 'content-type: application/json' "$@"
}

# Runs the full-load and the paced runs against the server PID on PORT; leaves NAME.* files in $work.
measure() {
  local name=$1 port=$2 url before after
  url=https://127.0.0.1:$port/sync
  load -n 2000 "$url" >"$work/$name.warm" || { echo "bench.sh: h2load failed, see $work/$name.warm" >&2; return 1; }
  before=$(cpu_ticks "$pid")
  load -n "$requests" --log-file="$work/$name.full.log" "$url" >"$work/$name.full"
  after=$(cpu_ticks "$pid")
  throughput "$work/$name.full" >"$work/$name.rps"
  awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
    'BEGIN { printf "%.1f\n", t / hz / n * 1e6 }' >"$work/$name.cpu"
  percentiles "$work/$name.full.log" >"$work/$name.full.lat"
  load --rps=$((rate / clients)) -n $((rate * paced_seconds)) --log-file="$work/$name.paced.log" "$url" \
    >"$work/$name.paced"
  throughput "$work/$name.paced" >/dev/null
  percentiles "$work/$name.paced.log" >"$work/$name.paced.lat"
}

# Starts server NAME (cold, memo or floor) and measures it; appends its figures to $work/NAME.rounds.
run() {
  local name=$1 start_ns cold_ms=- rss_kib=-
  start_ns=$(date +%s%N)
  case $name in
    floor)
      "$floor_bin" "127.0.0.1:$floor_port" "$request" >"$work/floor.log" 2>&1 &
      pid=$!
      wait_ready "$start_ns" "$floor_port" >/dev/null
      measure floor "$floor_port"
      ;;
    *)
      local memo_bytes=()
      [[ $name == cold ]] && memo_bytes=(--memo-bytes 0)
      "$hook_bin" serve --addr "127.0.0.1:$hook_port" --admin-addr "127.0.0.1:$admin_port" --log-format json \
        "${memo_bytes[@]}" >"$work/$name.log" 2>&1 &
      pid=$!
      cold_ms=$(wait_ready "$start_ns" "$admin_port" /readyz)
      measure "$name" "$hook_port"
      rss_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
      ;;
  esac
  stop
  echo "$(<"$work/$name.rps") $(<"$work/$name.cpu") $rss_kib $cold_ms" >>"$work/$name.rounds"
}

echo "hook: $hook_bin" >&2
echo "floor: $floor_bin" >&2
names=(cold memo floor)
for ((round = 1; round <= rounds; round++)); do
  for name in "${names[@]}"; do
    echo "round $round/$rounds: $name" >&2
    run "$name"
  done
done

# median FILE COLUMN: the median and the range of a column of NAME.rounds, as `median (min-max)`.
median() {
  awk -v c="$2" '{ print $c }' "$1" | sort -g | awk -v fmt="$3" '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf fmt " (" fmt "-" fmt ")\n", m, v[1], v[NR] }'
}

# ratio NAME: the median over the rounds of NAME's requests/s over the floor's in the same round.
ratio() {
  paste -d ' ' "$work/$1.rounds" "$work/floor.rounds" | awk '{ print $1 / $5 }' >"$work/$1.ratio"
  median "$work/$1.ratio" 1 "%.2f"
}

echo
echo "request: $request ($(wc -c <"$request") bytes); h2load --h1 -c $clients -t 1, TLS, loopback; $(nproc) cores"
echo "$rounds rounds of cold, memo, floor in turns; median (range) over the rounds"
printf '%-28s %-24s %-24s %-24s\n' "" "cold (--memo-bytes 0)" "memo (as shipped)" floor
printf '%-28s %-24s %-24s %-24s\n' "requests/s ($requests at full load)" \
  "$(median "$work/cold.rounds" 1 %.0f)" "$(median "$work/memo.rounds" 1 %.0f)" "$(median "$work/floor.rounds" 1 %.0f)"
printf '%-28s %-24s %-24s %-24s\n' "server CPU us/request" \
  "$(median "$work/cold.rounds" 2 %.1f)" "$(median "$work/memo.rounds" 2 %.1f)" "$(median "$work/floor.rounds" 2 %.1f)"
printf '%-28s %-24s %-24s\n' "requests/s over the floor's" "$(ratio cold)" "$(ratio memo)"
for name in cold memo; do
  paste -d ' ' "$work/$name.rounds" "$work/floor.rounds" | awk '{ print $2 / $6 }' >"$work/$name.cpu-ratio"
done
printf '%-28s %-24s %-24s\n' "CPU/request over the floor's" \
  "$(median "$work/cold.cpu-ratio" 1 %.2f)" "$(median "$work/memo.cpu-ratio" 1 %.2f)"
for name in "${names[@]}"; do
  read -r p50 p99 <"$work/$name.full.lat"
  read -r paced_p50 paced_p99 <"$work/$name.paced.lat"
  echo "$p50 / $p99" >"$work/$name.full.show"
  echo "$paced_p50 / $paced_p99" >"$work/$name.paced.show"
done
printf '%-28s %-24s %-24s %-24s\n' "p50 / p99 ms at full load" \
  "$(<"$work/cold.full.show")" "$(<"$work/memo.full.show")" "$(<"$work/floor.full.show")"
printf '%-28s %-24s %-24s %-24s\n' "p50 / p99 ms at $rate req/s" \
  "$(<"$work/cold.paced.show")" "$(<"$work/memo.paced.show")" "$(<"$work/floor.paced.show")"
awk '{ if ($3 > max) max = $3 } END { printf "hook peak RSS (VmHWM, largest of cold and memo): %.1f MiB\n", max / 1024 }' \
  "$work/cold.rounds" "$work/memo.rounds"
echo "hook cold start to /readyz 200: $(median "$work/memo.rounds" 4 %.0f) ms"
