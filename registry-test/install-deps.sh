#!/usr/bin/env bash
# Install the system peers the tests need, only when missing: Debian's docker-registry
# (CNCF distribution, the same code as the registry:2 image), skopeo, umoci and htpasswd.
set -euo pipefail
need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v umoci >/dev/null 2>&1 || need+=(umoci)  # unpacks the OCI image view (tests/integration/test_image_view_registry.py)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
