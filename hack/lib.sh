# shellcheck shell=bash
# Shared by the load scripts in hack/: `source hack/lib.sh` from the repository's root.

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
