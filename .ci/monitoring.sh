#!/usr/bin/env bash
# Self-monitoring against the real promtool: the derived configuration of
# tests/data/monitoring/sync-request.json (self-monitoring on, two Alertmanagers)
# passes `promtool check config`, its rules file `promtool check rules`, and
# `promtool test rules` with tests/data/monitoring/rules.test.yml, where every
# alert fires on the series that should fire it and stays silent on a healthy stack.
# The Grafana ConfigMaps parse, the dashboard names only the datasource we render,
# and every PromQL expression of the dashboard parses (as recording rules given to
# `promtool check rules`). The same stack with three store gateway shards passes
# `promtool check config` and `check rules`, and `promtool test rules` with
# tests/data/monitoring/sharded.test.yml.
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

# Every key of the derived <name>-prometheus-config ConfigMap of the answer $1, written into the folder $2
# as the pod sees it; the answer carries no warning.
derived_config() {
  python3 - "$1" "$2" <<'PY'
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
}

"$bin" render -o json tests/data/monitoring/sync-request.json > "$work/answer.json"
derived_config "$work/answer.json" "$work"
# The Grafana datasource and dashboard: they parse, the dashboard names only our datasource, and its
# queries become recording rules for promtool to parse.
python3 - "$work/answer.json" "$work/dashboard.rules.yml" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))
def config_map(suffix):
    found = [c for c in answer["children"]
             if c["kind"] == "ConfigMap" and c["metadata"]["name"].endswith(suffix)]
    if len(found) != 1:
        sys.exit(f"expected one {suffix} ConfigMap, found {len(found)}")
    return found[0]
sources = config_map("-grafana-datasources")
if sources["metadata"]["labels"].get("grafana_datasource") != "1":
    sys.exit("the datasource ConfigMap lacks grafana_datasource: \"1\"")
# The datasource file is YAML written as JSON, which the standard library reads.
uids = [d["uid"] for d in json.loads(sources["data"]["datasources.yaml"])["datasources"]]
if len(uids) != 1:
    sys.exit(f"expected one datasource uid, found {uids}")
boards = config_map("-grafana-dashboards")
if boards["metadata"]["labels"].get("grafana_dashboard") != "1":
    sys.exit("the dashboard ConfigMap lacks grafana_dashboard: \"1\"")
exprs = []
for key, text in boards["data"].items():
    dashboard = json.loads(text)
    for panel in dashboard["panels"]:
        for item in [panel] + panel["targets"]:
            if item["datasource"]["uid"] != uids[0]:
                sys.exit(f"{key}: panel {panel['title']!r} names datasource {item['datasource']}")
        exprs += [t["expr"] for t in panel["targets"]]
rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
# JSON is YAML: promtool reads the file as a rules file.
json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[2], "w"), indent=1)
print(f"  dashboard: {len(exprs)} queries, all on datasource {uids[0]}")
PY
rules=promrep-self-monitoring.rules.yml
[[ -s "$work/$rules" ]] || { echo "the derived ConfigMap has no $rules"; exit 1; }
grep -q 'alertmanagers:' "$work/prometheus.yml" || { echo "the derived config has no alertmanagers"; exit 1; }
cp tests/data/monitoring/rules.test.yml "$work/"

cd "$work"
POD_NAME=example-prometheus-0 promtool check config prometheus.yml
promtool check rules "$rules"
promtool test rules rules.test.yml
promtool check rules dashboard.rules.yml
cd - > /dev/null

# The same stack with three store gateway shards: its derived configuration and rules pass promtool, and the
# store gateway's down alert counts every shard's replicas (tests/data/monitoring/sharded.test.yml).
sharded="$work/sharded"
mkdir "$sharded"
python3 - tests/data/monitoring/sync-request.json "$sharded/request.json" <<'PY'
import json, sys
request = json.load(open(sys.argv[1]))
request["parent"]["spec"].setdefault("store", {})["shards"] = 3
json.dump(request, open(sys.argv[2], "w"))
PY
"$bin" render -o json "$sharded/request.json" > "$sharded/answer.json"
python3 - "$sharded/answer.json" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))
stores = [c["metadata"]["name"] for c in answer["children"]
          if c["kind"] == "StatefulSet" and "-thanos-store" in c["metadata"]["name"]]
if sorted(stores) != ["example-thanos-store-0", "example-thanos-store-1", "example-thanos-store-2"]:
    sys.exit(f"expected three store gateway shards, found {stores}")
PY
derived_config "$sharded/answer.json" "$sharded"
cp tests/data/monitoring/sharded.test.yml "$sharded/"
cd "$sharded"
POD_NAME=example-prometheus-0 promtool check config prometheus.yml
promtool check rules "$rules"
promtool test rules sharded.test.yml
echo "monitoring: promtool check config, check rules, test rules and the dashboard's queries passed, sharded too"
