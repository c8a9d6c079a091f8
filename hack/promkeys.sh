#!/usr/bin/env bash
# Prints the YAML keys of every section of a Prometheus configuration, read from the Go source of the pinned
# Prometheus module and of the modules whose types it embeds (hack/promkeys/main.go, go/ast only). Its output
# is src/promconfig/keys.txt:
#
#   hack/promkeys.sh > src/promconfig/keys.txt      # after the Prometheus pin changes
#   hack/promkeys.sh | diff -u src/promconfig/keys.txt -    # what .ci/run checks
#
# Needs Go; downloads the modules once into Go's module cache.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lib.sh
source hack/lib.sh
require_tools promkeys.sh go sed

prometheus="$(prometheus_module)"
[[ -d "$prometheus" ]] || { echo "promkeys.sh: the Prometheus module did not download" >&2; exit 1; }
# The versions of common and sigv4 that this Prometheus is built with.
common="$(go_module_dir github.com/prometheus/common)"
sigv4="$(go_module_dir github.com/prometheus/sigv4)"

args=()
for package in config model/relabel storage/remote/azuread storage/remote/googleiam discovery; do
  args+=("github.com/prometheus/prometheus/$package=$prometheus/$package")
done
# Every service discovery package that discovery/install registers.
while read -r package; do
  args+=("github.com/prometheus/prometheus/$package=$prometheus/$package")
done < <(sed -n 's,^\t_ "github.com/prometheus/prometheus/\(discovery/[a-z]*\)".*,\1,p' "$prometheus/discovery/install/install.go")
args+=("github.com/prometheus/common/config=$common/config" "github.com/prometheus/sigv4=$sigv4")
echo "# From github.com/prometheus/prometheus ${prometheus##*@}, by hack/promkeys.sh."
cd hack/promkeys
go run . "${args[@]}"
