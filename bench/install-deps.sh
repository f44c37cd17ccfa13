#!/usr/bin/env bash
# What the benchmarks need besides the test dependencies, installed only when missing:
# GNU time (peak RSS), bc (ratios), openssl (the hashing yardstick), pigz (the parallel gzip yardstick).
set -euo pipefail
need=()
[ -x /usr/bin/time ] || need+=(time)
command -v bc >/dev/null 2>&1 || need+=(bc)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v pigz >/dev/null 2>&1 || need+=(pigz)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
