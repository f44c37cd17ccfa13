#!/usr/bin/env bash
# Start/stop a local CNCF distribution registry on 127.0.0.1:<free port>.
#
#   eval "$(registry-test/registry.sh start [plain|tls|auth] [DIR])"   # exports REGISTRY_HOST, ...
#   registry-test/registry.sh stop [DIR]                                # default DIR: $REGISTRY_DIR
#
# See registry-test/README.md. The work is done by registry.py (standard library only).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${PYTHON:-python3}"
cmd="${1:-}"
case "$cmd" in
  start)
    variant="${2:-plain}"
    if [ -n "${3:-}" ]; then
      exec "$py" "$here/registry.py" start --variant "$variant" --dir "$3"
    fi
    exec "$py" "$here/registry.py" start --variant "$variant"
    ;;
  stop)
    dir="${2:-${REGISTRY_DIR:-}}"
    [ -n "$dir" ] || { echo "usage: registry.sh stop DIR (or set REGISTRY_DIR)" >&2; exit 2; }
    exec "$py" "$here/registry.py" stop --dir "$dir"
    ;;
  *)
    echo "usage: registry.sh start [plain|tls|auth] [DIR] | stop [DIR]" >&2
    exit 2
    ;;
esac
