#!/usr/bin/env bash
# Runs every benchmark in bench/ and prints its figures. Each script makes its own data in
# bench/.work (gitignored) and compares against peers measured in the same run.
set -euo pipefail
cd "$(dirname "$0")"
for b in startup list pack unpack many-files transfer memory; do
  if [ -f "$b.sh" ]; then
    echo "== $b"
    bash "$b.sh"
  fi
done
