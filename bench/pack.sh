#!/usr/bin/env bash
# pack of one 2 GiB random file vs `openssl dgst -sha256` + `cp` (hash once + write once).
# Targets: ratio <= 1.0, ocikit peak RSS < 100 MB.
source "$(dirname "$0")/lib.sh"
SIZE_MIB="${SIZE_MIB:-2048}"
CTX="$WORK/pack-ctx"
mkdir -p "$CTX/model"
make_random_file "$CTX/model/weights.bin" "$SIZE_MIB"
printf 'manifestVersion: 1.0.0\npackage:\n  name: bench\nmodel:\n  path: model\n' > "$CTX/Kitfile"
export OCIKIT_HOME="$WORK/pack-home"
cat "$CTX/model/weights.bin" > /dev/null  # warm page cache, as after training wrote it
reset_times pack_ocikit pack_peer
for _ in $(seq "$RUNS"); do
  rm -f "$WORK/copy.bin"; sync
  run_timed pack_peer bash -c "openssl dgst -sha256 '$CTX/model/weights.bin' >/dev/null && cp '$CTX/model/weights.bin' '$WORK/copy.bin'"
  rm -rf "$OCIKIT_HOME"; sync
  run_timed pack_ocikit ocikit -q pack "$CTX" -t bench/pack:1 --no-sbom
done
rm -f "$WORK/copy.bin"
report "pack ${SIZE_MIB} MiB (vs openssl+cp)" pack_ocikit pack_peer
