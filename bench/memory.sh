#!/usr/bin/env bash
# Peak RSS of pack, push, pull and unpack of a 4 GiB ModelKit (target <= 150 MiB each), one run
# each (memory does not vary between runs the way time does), against the local registry.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUNS=1 source "$here/lib.sh"
SIZE_MIB="${SIZE_MIB:-4096}"
M="$WORK/memory"
rm -rf "$M"; mkdir -p "$M/ctx"
make_random_file "$M/ctx/model.bin" "$SIZE_MIB"
printf 'manifestVersion: 1.0.0\npackage:\n  name: mem\nmodel:\n  name: mem\n  path: model.bin\n' > "$M/ctx/Kitfile"
eval "$(python3 "$here/../registry-test/registry.py" start --variant plain --dir "$M/registry")"
cleanup() { python3 "$here/../registry-test/registry.py" stop --dir "$M/registry" || true; rm -rf "$M"; }
trap cleanup EXIT
reset_times mem_pack mem_push mem_pull mem_unpack mem_unpack_remote
run_timed mem_pack ocikit --home "$M/h1" -q pack "$M/ctx" -t bench/mem:1
run_timed mem_push ocikit --home "$M/h1" -q push bench/mem:1 "$REGISTRY_HOST/bench/mem:1" --plain-http
run_timed mem_pull ocikit --home "$M/h2" -q pull "$REGISTRY_HOST/bench/mem:1" --plain-http
run_timed mem_unpack ocikit --home "$M/h2" -q unpack "$REGISTRY_HOST/bench/mem:1" -d "$M/out1" --plain-http
run_timed mem_unpack_remote ocikit --home "$M/h3" -q unpack "$REGISTRY_HOST/bench/mem:1" -d "$M/out2" --plain-http
cmp "$M/ctx/model.bin" "$M/out2/model.bin"
for op in pack push pull unpack unpack_remote; do
  printf '%-34s %7.3fs  peak RSS %s MiB (target <= 150)\n' "$op ${SIZE_MIB} MiB" "$(median "mem_$op")" "$(peak_mib "mem_$op")"
done
