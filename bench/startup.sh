#!/usr/bin/env bash
# Start-up time: `ocikit --help` against `python -c pass` (same interpreter), medians of 21 runs.
source "$(dirname "$0")/lib.sh"
PY=$(dirname "$(command -v ocikit)")/python
RUNS=21
reset_times py_pass ocikit_help ocikit_version
for _ in $(seq "$RUNS"); do
  run_timed py_pass "$PY" -c pass
  run_timed ocikit_help ocikit --help
  run_timed ocikit_version ocikit --version
done
report "startup: ocikit --help" ocikit_help py_pass
report "startup: ocikit --version" ocikit_version py_pass
