# shellcheck shell=bash
# Shared by the scripts in hack/: `source hack/lib.sh` from the repository's root.

# require_tools NAME TOOL...: exit 1 naming the first missing tool (and the Debian package of h2load).
require_tools() {
  local name="$1" tool
  shift
  for tool in "$@"; do
    if ! command -v "$tool" > /dev/null; then
      case "$tool" in
        h2load) echo "$name: h2load is missing: apt-get install nghttp2-client" >&2 ;;
        *) echo "$name: $tool is missing" >&2 ;;
      esac
      exit 1
    fi
  done
}

# release_binary: set BIN to the release binary, building it unless BIN is already set.
release_binary() {
  if [[ -z "${BIN:-}" ]]; then
    cargo build --release --locked --quiet
    BIN="${CARGO_TARGET_DIR:-target}/release/prometheus-replica-operator"
  fi
}

# The link flags of every pinned Go build. Without the symbol table and DWARF (-s -w), etcd's link took half the
# CPU time and its binary is a third smaller; stack traces keep their function names. Not part of build_pinned's
# key: a binary linked with or without them runs the same, and a new key would build every cached binary again.
go_ldflags="-s -w"

# build_pinned MODULES NAME: build the Go programs listed on standard input, one
# `tool:module folder:build tags:package` a line, from the pinned Go modules in MODULES into
# TARGET/NAME/bin-KEY (KEY hashes the Go version and every pin, so that a changed pin builds anew; a binary
# already there is kept); prints that folder. Two builders of
# the same folder take turns (flock): the second finds the first one's binaries and builds nothing.
build_pinned() {
  local modules="$1" name="$2" list key dir tool module tags package lock start
  command -v go > /dev/null || { echo "$name: Go is missing: it is built from Go modules (Go 1.26 or newer)" >&2; exit 1; }
  list="$(cat)"
  key="$( { go version; cat "$modules"/*/go.mod "$modules"/*/go.sum; } | sha256sum | cut -c1-16)"
  dir="${CARGO_TARGET_DIR:-target}/$name/bin-$key"
  mkdir -p "$dir"
  dir="$(realpath "$dir")"
  exec {lock}> "$dir/.lock"
  flock "$lock"
  while IFS=: read -r tool module tags package; do
    [[ -x "$dir/$tool" ]] && continue
    echo "$name: building $tool ($package, pinned in $modules/$module/go.mod)" >&2
    start=$SECONDS
    (cd "$modules/$module" && CGO_ENABLED=0 go build -tags "$tags" -ldflags="$go_ldflags" -o "$dir/$tool.new" "$package")
    mv "$dir/$tool.new" "$dir/$tool"
    echo "$name: built $tool in $((SECONDS - start))s" >&2
  done <<< "$list"
  exec {lock}>&-
  printf '%s\n' "$dir"
}

# go_download MODULES...: download every module that the Go modules in the folders MODULES require into Go's
# module cache, all folders at once (network-bound); fails naming a folder whose download failed.
go_download() {
  local folder pids=() folders=() i failed=0
  command -v go > /dev/null || { echo "go_download: Go is missing" >&2; exit 1; }
  for folder in "$@"; do
    (cd "$folder" && go mod download) &
    pids+=("$!")
    folders+=("$folder")
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "go_download: go mod download failed in ${folders[$i]}" >&2; failed=1; }
  done
  return "$failed"
}

# go_module_dir MODULE: print the folder of a Go module at the version that hack/stack/prometheus/go.mod selects
# (Prometheus pinned to the default image's version, and what it is built with), downloaded once into Go's module
# cache and verified against that go.sum.
go_module_dir() {
  command -v go > /dev/null || { echo "go_module_dir: Go is missing" >&2; exit 1; }
  (cd hack/stack/prometheus && go mod download -json "$1") | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'
}

# prometheus_module: the folder of the pinned Prometheus Go module. Its Go source is where
# src/promconfig/keys.txt comes from (hack/promkeys.sh), its test data the validator's corpus (.ci/run).
prometheus_module() {
  go_module_dir github.com/prometheus/prometheus
}
