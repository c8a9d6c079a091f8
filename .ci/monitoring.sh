#!/usr/bin/env bash
# Self-monitoring against the real promtool: the derived configuration of
# tests/data/monitoring/sync-request.json (self-monitoring on, two Alertmanagers)
# passes `promtool check config`, its rules file `promtool check rules`, and
# `promtool test rules` with tests/data/monitoring/rules.test.yml, where every
# alert fires on the series that should fire it and stays silent on a healthy stack.
#
# Usage: bash .ci/monitoring.sh [BINARY]   (default: builds the debug binary)
# promtool comes from Debian's `prometheus` package (2.42), installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool > /dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus > /dev/null
fi

bin="${1:-}"
if [[ -z "$bin" ]]; then
  cargo build --locked -q --bin prometheus-replica-operator
  bin="${CARGO_TARGET_DIR:-target}/debug/prometheus-replica-operator"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$bin" render -o json tests/data/monitoring/sync-request.json > "$work/answer.json"
# Every key of the derived <name>-prometheus-config ConfigMap, as the pod sees the directory.
python3 - "$work/answer.json" "$work" <<'PY'
import json, os, sys
answer = json.load(open(sys.argv[1]))
configs = [c for c in answer["children"]
           if c["kind"] == "ConfigMap" and c["metadata"]["name"].endswith("-prometheus-config")]
if len(configs) != 1:
    sys.exit(f"expected one derived -prometheus-config ConfigMap, found {len(configs)}")
for key, text in configs[0]["data"].items():
    with open(os.path.join(sys.argv[2], key), "w", encoding="utf-8") as f:
        f.write(text)
if answer["status"].get("warnings"):
    sys.exit(f"unexpected warnings: {answer['status']['warnings']}")
PY
rules=promrep-self-monitoring.rules.yml
[[ -s "$work/$rules" ]] || { echo "the derived ConfigMap has no $rules"; exit 1; }
grep -q 'alertmanagers:' "$work/prometheus.yml" || { echo "the derived config has no alertmanagers"; exit 1; }
cp tests/data/monitoring/rules.test.yml "$work/"

cd "$work"
POD_NAME=example-prometheus-0 promtool check config prometheus.yml
promtool check rules "$rules"
promtool test rules rules.test.yml
echo "monitoring: promtool check config, check rules and test rules passed"
