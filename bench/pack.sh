#!/usr/bin/env bash
# pack of one 2 GiB random file (uncompressed, SBOM on) vs `openssl dgst -sha256` + `cp`
# (hash once + write once), then re-pack of unchanged content, then the compressions on
# COMP_MIB of float32-like data vs `gzip -1` / `zstd -T0 -3`.
# Targets: ratio <= 1.0, re-pack leaves the stored blob untouched, ocikit peak RSS <= 150 MiB
# (zstd too, and flat: the same at ZSTD_BIG_MIB as at COMP_MIB).
# PARTS selects what runs (default: all): pack repack comp zstd-big par.
# par: the 1 GiB (ZSTD_BIG_MIB) of the same data, --compression gzip-fastest vs `pigz -1`,
# gzip vs `pigz -6`, zstd vs `zstd -T0 -3`: every codec on every core (issue 14).
source "$(dirname "$0")/lib.sh"
SIZE_MIB="${SIZE_MIB:-2048}"
COMP_MIB="${COMP_MIB:-256}"
ZSTD_BIG_MIB="${ZSTD_BIG_MIB:-1024}"
PARTS="${PARTS:-pack repack comp zstd-big par}"
part() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
CTX="$WORK/pack-ctx"
mkdir -p "$CTX/model"
make_random_file "$CTX/model/weights.bin" "$SIZE_MIB"
printf 'manifestVersion: 1.0.0\npackage:\n  name: bench\nmodel:\n  path: model\n' > "$CTX/Kitfile"
export OCIKIT_HOME="$WORK/pack-home"
cat "$CTX/model/weights.bin" > /dev/null  # warm page cache, as after training wrote it
if part pack; then
reset_times pack_ocikit pack_peer
for _ in $(seq "$RUNS"); do
  rm -f "$WORK/copy.bin"; sync
  run_timed pack_peer bash -c "openssl dgst -sha256 '$CTX/model/weights.bin' >/dev/null && cp '$CTX/model/weights.bin' '$WORK/copy.bin'"
  rm -rf "$OCIKIT_HOME"; sync
  run_timed pack_ocikit ocikit -q pack "$CTX" -t bench/pack:1
done
rm -f "$WORK/copy.bin"
report "pack ${SIZE_MIB} MiB, SBOM (vs openssl+cp)" pack_ocikit pack_peer
fi

# re-pack: the stored layer blob must not be rewritten (same inode, same mtime)
if part repack; then
[ -d "$OCIKIT_HOME/store" ] || ocikit -q pack "$CTX" -t bench/pack:1 >/dev/null
BLOB=$(ls -S "$OCIKIT_HOME/store/blobs/sha256" | head -1)
before=$(stat -c '%i %Y.%y' "$OCIKIT_HOME/store/blobs/sha256/$BLOB")
reset_times repack_ocikit
for _ in $(seq "$RUNS"); do run_timed repack_ocikit ocikit -q pack "$CTX" -t bench/pack:1; done
after=$(stat -c '%i %Y.%y' "$OCIKIT_HOME/store/blobs/sha256/$BLOB")
[ "$before" = "$after" ] && same="stored blob untouched" || same="STORED BLOB REWRITTEN"
printf '%-40s ocikit %7.3fs  (%s)\n' "re-pack unchanged ${SIZE_MIB} MiB" "$(median repack_ocikit)" "$same"
fi

# compression on float32-like weights (they compress little, like real weights)
CCTX="$WORK/comp-ctx"
mkdir -p "$CCTX/model"
if [ ! -f "$CCTX/model/w.bin" ] || [ "$(stat -c %s "$CCTX/model/w.bin")" -ne $((COMP_MIB << 20)) ]; then
  python3 - "$CCTX/model/w.bin" "$COMP_MIB" <<'PYEOF'
import os, sys
# float32-like: random mantissas, sign random, exponents in a narrow band (|w| ~ 0.004-0.03),
# so codecs find what they find in real weights: little.
top = bytes(0x3C | (i & 0x80) for i in range(256))
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2])):
        b = bytearray(os.urandom(1 << 20))
        b[3::4] = bytes(b[3::4]).translate(top)
        f.write(b)
PYEOF
fi
printf 'manifestVersion: 1.0.0\npackage:\n  name: comp\nmodel:\n  path: model\n' > "$CCTX/Kitfile"
cat "$CCTX/model/w.bin" > /dev/null
export OCIKIT_HOME="$WORK/comp-home"
if part comp; then
for c in none gzip gzip-fastest zstd; do reset_times "comp_$c"; done
reset_times comp_gzip1 comp_zstd
for _ in $(seq "$RUNS"); do
  run_timed comp_gzip1 bash -c "gzip -1 -c '$CCTX/model/w.bin' > '$WORK/w.gz'"
  run_timed comp_zstd bash -c "zstd -q -T0 -3 -c '$CCTX/model/w.bin' > '$WORK/w.zst'"
  for c in none gzip gzip-fastest zstd; do
    rm -rf "$OCIKIT_HOME"
    run_timed "comp_$c" ocikit -q pack "$CCTX" -t bench/comp:1 --no-sbom --compression "$c"
  done
done
rm -f "$WORK/w.gz" "$WORK/w.zst"
for c in none gzip gzip-fastest zstd; do
  rm -rf "$OCIKIT_HOME"
  ocikit -q pack "$CCTX" -t bench/comp:1 --no-sbom --compression "$c" >/dev/null
  size=$(ls -S -l "$OCIKIT_HOME/store/blobs/sha256" | awk 'NR==2 {print $5}')
  printf '%-40s ocikit %7.3fs  size %.3f of input  ratio %sx gzip -1, %sx zstd -T0 -3  peak RSS %s MiB\n' \
    "pack ${COMP_MIB} MiB float32 --compression $c" "$(median "comp_$c")" "$(echo "$size / ($COMP_MIB * 1048576)" | bc -l)" \
    "$(ratio "$(median "comp_$c")" "$(median comp_gzip1)")" "$(ratio "$(median "comp_$c")" "$(median comp_zstd)")" "$(peak_mib "comp_$c")"
done
printf '%-40s gzip -1 %7.3fs  zstd -T0 -3 %7.3fs\n' "peers on the same ${COMP_MIB} MiB" "$(median comp_gzip1)" "$(median comp_zstd)"
fi

ZCTX="$WORK/zstd-big-ctx"
make_big_ctx() {
  mkdir -p "$ZCTX/model"
  if [ ! -f "$ZCTX/model/w.bin" ] || [ "$(stat -c %s "$ZCTX/model/w.bin")" -ne $((ZSTD_BIG_MIB << 20)) ]; then
    rm -f "$ZCTX/model/w.bin"
    for _ in $(seq $((ZSTD_BIG_MIB / COMP_MIB))); do cat "$CCTX/model/w.bin" >> "$ZCTX/model/w.bin"; done
  fi
  cp "$CCTX/Kitfile" "$ZCTX/Kitfile"
  cat "$ZCTX/model/w.bin" > /dev/null
}

# zstd memory must not grow with the layer: the same pack on ZSTD_BIG_MIB of the same data
if part zstd-big; then
  make_big_ctx
  reset_times zstd_small zstd_big
  for _ in $(seq "$RUNS"); do
    rm -rf "$OCIKIT_HOME"; run_timed zstd_small ocikit -q pack "$CCTX" -t bench/comp:1 --no-sbom --compression zstd
    rm -rf "$OCIKIT_HOME"; run_timed zstd_big ocikit -q pack "$ZCTX" -t bench/comp:1 --no-sbom --compression zstd
  done
  rm -rf "$OCIKIT_HOME"
  printf '%-40s %s MiB: %7.3fs peak RSS %s MiB; %s MiB: %7.3fs peak RSS %s MiB (target <= 150, flat)\n' \
    "pack --compression zstd" "$COMP_MIB" "$(median zstd_small)" "$(peak_mib zstd_small)" \
    "$ZSTD_BIG_MIB" "$(median zstd_big)" "$(peak_mib zstd_big)"
fi

# parallel compression against the parallel peers, ZSTD_BIG_MIB of the same data
if part par; then
  make_big_ctx
  reset_times par_pigz1 par_pigz6 par_zstd par_gzip-fastest par_gzip par_ozstd
  for _ in $(seq "$RUNS"); do
    run_timed par_pigz1 bash -c "pigz -1 -c '$ZCTX/model/w.bin' > '$WORK/w.gz'"
    rm -rf "$OCIKIT_HOME"; run_timed par_gzip-fastest ocikit -q pack "$ZCTX" -t bench/comp:1 --no-sbom --compression gzip-fastest
    run_timed par_pigz6 bash -c "pigz -6 -c '$ZCTX/model/w.bin' > '$WORK/w.gz'"
    rm -rf "$OCIKIT_HOME"; run_timed par_gzip ocikit -q pack "$ZCTX" -t bench/comp:1 --no-sbom --compression gzip
    run_timed par_zstd bash -c "zstd -q -T0 -3 -c '$ZCTX/model/w.bin' > '$WORK/w.zst'"
    rm -rf "$OCIKIT_HOME"; run_timed par_ozstd ocikit -q pack "$ZCTX" -t bench/comp:1 --no-sbom --compression zstd
  done
  rm -rf "$OCIKIT_HOME" "$WORK/w.gz" "$WORK/w.zst"
  report "pack ${ZSTD_BIG_MIB} MiB gzip-fastest (vs pigz -1)" par_gzip-fastest par_pigz1
  report "pack ${ZSTD_BIG_MIB} MiB gzip (vs pigz -6)" par_gzip par_pigz6
  report "pack ${ZSTD_BIG_MIB} MiB zstd (vs zstd -T0 -3)" par_ozstd par_zstd
fi
