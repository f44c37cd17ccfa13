#!/usr/bin/env bash
# pack + unpack of a Kitfile whose dataset is N small files (1 KiB each): time must grow
# linearly with the count (per-file cost flat from 10,000 to 100,000), compared with GNU tar.
source "$(dirname "$0")/lib.sh"
COUNTS="${COUNTS:-10000 100000}"
for count in $COUNTS; do
  CTX="$WORK/many-$count"
  if [ ! -f "$CTX/.done" ]; then
    rm -rf "$CTX"; mkdir -p "$CTX/data"
    python3 - "$CTX/data" "$count" <<'PYEOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i // 1000:03d}")
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:06d}.txt"), "wb") as f:
        f.write(os.urandom(512).hex().encode())
PYEOF
    printf 'manifestVersion: 1.0.0\npackage:\n  name: many\ndatasets:\n  - name: data\n    path: data\n' > "$CTX/Kitfile"
    touch "$CTX/.done"
  fi
  export OCIKIT_HOME="$WORK/many-home-$count"
  reset_times "many_tar_c_$count" "many_pack_$count" "many_tar_x_$count" "many_unpack_$count"
  for _ in $(seq "$RUNS"); do
    rm -f "$WORK/many.tar"
    run_timed "many_tar_c_$count" bash -c "tar -cf '$WORK/many.tar' -C '$CTX' data && openssl dgst -sha256 '$WORK/many.tar' >/dev/null"
    rm -rf "$OCIKIT_HOME"
    run_timed "many_pack_$count" ocikit -q pack "$CTX" -t bench/many:1
    rm -rf "$WORK/many-x"; mkdir "$WORK/many-x"
    run_timed "many_tar_x_$count" tar -xf "$WORK/many.tar" -C "$WORK/many-x"
    rm -rf "$WORK/many-y"
    run_timed "many_unpack_$count" ocikit -q unpack bench/many:1 -d "$WORK/many-y"
  done
  test "$(find "$WORK/many-y/data" -type f | wc -l)" -eq "$count" || { echo "unpack lost files" >&2; exit 1; }
  rm -rf "$WORK/many-x" "$WORK/many-y" "$WORK/many.tar"
  report "pack $count files (vs tar -cf + openssl)" "many_pack_$count" "many_tar_c_$count"
  report "unpack $count files (vs tar -xf)" "many_unpack_$count" "many_tar_x_$count"
  printf '%-34s pack %s us/file, unpack %s us/file\n' "per file ($count)" \
    "$(echo "scale=1; $(median "many_pack_$count") * 1000000 / $count" | bc -l)" "$(echo "scale=1; $(median "many_unpack_$count") * 1000000 / $count" | bc -l)"
done
