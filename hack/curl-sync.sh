#!/usr/bin/env bash
# POST the 2018 example PrometheusReplica, as Metacontroller sends it, to a running
# hook and print the answer: the children and the status.
#
#   cargo run --release -- serve &     # in another terminal: the hook, self-signed
#   hack/curl-sync.sh                  # the whole answer, pretty-printed when jq is installed
#   hack/curl-sync.sh other.json       # another request
#
# Environment: URL (default https://localhost:8443/sync); TOKEN, sent as a bearer
# token when the hook runs with --auth-token-file; CACERT, a CA file to verify the
# hook with instead of curl -k (the local run's certificate is self-signed).
# Exits non-zero on any answer but 200, after printing it.
set -euo pipefail
cd "$(dirname "$0")/.."

request="${1:-hack/examples/sync-request.json}"
url="${URL:-https://localhost:8443/sync}"

tls=(-k)
if [[ -n "${CACERT:-}" ]]; then
  tls=(--cacert "$CACERT")
fi
auth=()
if [[ -n "${TOKEN:-}" ]]; then
  auth=(-H "Authorization: Bearer $TOKEN")
fi

body="$(mktemp)"
trap 'rm -f "$body"' EXIT
status="$(curl -sS "${tls[@]}" "${auth[@]}" -o "$body" -w '%{http_code}' \
  -H 'Content-Type: application/json' --data-binary "@$request" "$url")"

if command -v jq > /dev/null && jq -e . "$body" > /dev/null 2>&1; then
  jq . "$body"
else
  cat "$body"
  echo
fi
if [[ "$status" != 200 ]]; then
  echo "curl-sync: HTTP $status" >&2
  exit 1
fi
