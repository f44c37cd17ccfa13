#!/usr/bin/env bash
# unpack of one 2 GiB layer from the local store vs `tar -xf` of the same tar.
# Targets: ratio <= 1.2, ocikit peak RSS < 100 MB.
# Neither fsyncs. tar's data is still in the page cache when it exits (the `sync` before the next
# run writes it back, untimed); ocikit writes large files with O_DIRECT, so its time includes
# the disk writes (docs/performance.md).
source "$(dirname "$0")/lib.sh"
SIZE_MIB="${SIZE_MIB:-2048}"
CTX="$WORK/pack-ctx"
mkdir -p "$CTX/model"
make_random_file "$CTX/model/weights.bin" "$SIZE_MIB"
printf 'manifestVersion: 1.0.0\npackage:\n  name: bench\nmodel:\n  path: model\n' > "$CTX/Kitfile"
export OCIKIT_HOME="$WORK/unpack-home"
ocikit -q pack "$CTX" -t bench/unpack:1 --no-sbom >/dev/null
# the peer reads the very same tar: the layer blob
BLOB=$(ocikit inspect bench/unpack:1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifest"]["layers"][0]["digest"].split(":")[1])')
TAR="$OCIKIT_HOME/store/blobs/sha256/$BLOB"
cat "$TAR" > /dev/null
reset_times unpack_ocikit unpack_peer
for _ in $(seq "$RUNS"); do
  rm -rf "$WORK/x" && mkdir "$WORK/x"; sync
  run_timed unpack_peer tar -xf "$TAR" -C "$WORK/x"
  rm -rf "$WORK/y"; sync
  run_timed unpack_ocikit ocikit -q unpack bench/unpack:1 -d "$WORK/y" --filter model
done
cmp "$WORK/x/model/weights.bin" "$WORK/y/model/weights.bin"
rm -rf "$WORK/x" "$WORK/y"
report "unpack ${SIZE_MIB} MiB (vs tar -xf)" unpack_ocikit unpack_peer
