#!/usr/bin/env bash
# push / pull of a 2 GiB ModelKit: ocikit vs skopeo (oci layout <-> registry), alternating runs,
# against a local distribution registry (registry-test/). Prints medians, ratios, peak RSS.
# Targets: push <= 1.0x skopeo, pull <= 0.6x skopeo, re-push < 1 s, ocikit peak RSS < 150 MB.
#   SIZE_MIB=2048 RUNS=3 bash bench/transfer.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
SIZE_MIB="${SIZE_MIB:-2048}"
RUNS="${RUNS:-3}"
OCIKIT="${OCIKIT:-ocikit}"
command -v skopeo >/dev/null || { echo "skopeo missing: bash registry-test/install-deps.sh" >&2; exit 1; }
BLOB_CACHE=/var/lib/containers/cache/blob-info-cache-v1.boltdb

T="$WORK/transfer"
rm -rf "$T"; mkdir -p "$T"
HOME_SRC="$T/home-src"
echo "making a ${SIZE_MIB} MiB ModelKit..."
python3 -c 'import ocikit' 2>/dev/null && PY=python3 || PY="$(dirname "$(command -v "$OCIKIT")")/python"
"$PY" "$here/transfer_make_kit.py" "$HOME_SRC" "$WORK/transfer-context" "$SIZE_MIB" bench/kit:1 >/dev/null
STORE="$HOME_SRC/store"

eval "$(python3 "$here/../registry-test/registry.py" start --variant plain --dir "$T/registry")"
cleanup() { python3 "$here/../registry-test/registry.py" stop --dir "$T/registry" || true; rm -rf "$T"; }
trap cleanup EXIT
echo "registry on $REGISTRY_HOST"

reset_times ocikit_push skopeo_push ocikit_pull skopeo_pull ocikit_repush
for i in $(seq 1 "$RUNS"); do
  # push: a fresh repository each run, so nothing is skipped or mounted (the blob-source memory
  # of earlier runs would turn the upload into a cross-repository mount)
  rm -f "$HOME_SRC/blob-sources.json" "$HOME_SRC/upload-sessions.json"
  run_timed ocikit_push "$OCIKIT" --home "$HOME_SRC" -q push bench/kit:1 "$REGISTRY_HOST/bench/o$i:1" --plain-http
  rm -f "$BLOB_CACHE"
  run_timed skopeo_push skopeo --insecure-policy copy -q --dest-tls-verify=false \
    "oci:$STORE:localhost/bench/kit:1" "docker://$REGISTRY_HOST/bench/s$i:1"
  # pull: into an empty store / layout each run (verified by both tools)
  run_timed ocikit_pull "$OCIKIT" --home "$T/pull-$i" -q pull "$REGISTRY_HOST/bench/o$i:1" --plain-http
  rm -rf "$T/pull-$i"
  run_timed skopeo_pull skopeo --insecure-policy copy -q --src-tls-verify=false \
    "docker://$REGISTRY_HOST/bench/s$i:1" "oci:$T/skopeo-$i:x"
  rm -rf "$T/skopeo-$i"
  # re-push: everything is there already
  run_timed ocikit_repush "$OCIKIT" --home "$HOME_SRC" -q push bench/kit:1 "$REGISTRY_HOST/bench/o$i:1" --plain-http
done

echo "== transfer (${SIZE_MIB} MiB ModelKit, ${RUNS} runs, median)"
report "push (ocikit vs skopeo)" ocikit_push skopeo_push
report "pull (ocikit vs skopeo)" ocikit_pull skopeo_pull
printf '%-34s ocikit %7.3fs  (target < 1 s)\n' "re-push (all blobs present)" "$(median ocikit_repush)"
printf '%-34s push %s MiB, pull %s MiB, re-push %s MiB (target < 150 MB)\n' "ocikit peak RSS" \
  "$(peak_mib ocikit_push)" "$(peak_mib ocikit_pull)" "$(peak_mib ocikit_repush)"
printf '%-34s push %s MiB, pull %s MiB\n' "skopeo peak RSS" "$(peak_mib skopeo_push)" "$(peak_mib skopeo_pull)"
