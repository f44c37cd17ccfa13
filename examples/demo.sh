#!/usr/bin/env bash
# The ocikit tour, run by `make demo`: from a Kitfile to production on a real local registry.
#
# Every step runs the real `ocikit` (the one on PATH; `make demo` puts the project's venv first)
# against a CNCF distribution registry started on 127.0.0.1 by registry-test/. Everything it
# writes lives under .demo/ in the repository (gitignored) and is recreated on each run:
#
#   .demo/home      OCIKIT_HOME of the "release job" (local store)
#   .demo/serving   OCIKIT_HOME of the "serving host"
#   .demo/project   scratch copy of examples/sentiment with Kitfile.example as its Kitfile
#   .demo/keys      signing keys;  .demo/serve  the unpacked model;  .demo/registry  the registry
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
DEMO="$ROOT/.demo"
REPO=demo/sentiment

if [ -t 1 ]; then BOLD=$'\033[1m'; DIM=$'\033[2m'; OFF=$'\033[0m'; else BOLD=; DIM=; OFF=; fi
step() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$OFF"; }
say() { printf '%s$ %s%s\n' "$DIM" "$*" "$OFF"; }

# Runs `ocikit ARGS...`, echoing the command first; any failure stops the tour (set -e).
oc() {
  say "ocikit $*" >&2
  ocikit "$@"
}

# refused CODE ARGS...: `ocikit ARGS...` must fail with exit code CODE (a check doing its job).
refused() {
  local want=$1 got=0
  shift
  oc "$@" || got=$?
  if [ "$got" != "$want" ]; then
    echo "demo: 'ocikit $*' exited $got, expected $want" >&2
    exit 1
  fi
  echo "  -> refused as expected (exit $got)"
}

command -v ocikit >/dev/null || { echo "demo: ocikit is not on PATH (run: make demo)" >&2; exit 1; }

step "Setup: a fresh .demo/ and a local registry (registry-test/)"
rm -rf "$DEMO"
mkdir -p "$DEMO/keys" "$DEMO/other-keys"
export OCIKIT_HOME="$DEMO/home"
export OCIKIT_PASSWORD=""          # unencrypted demo keys; use a real password in production
PACK_EPOCH=1700000000              # SOURCE_DATE_EPOCH for pack: same inputs, same digests
eval "$(bash registry-test/registry.sh start plain "$DEMO/registry")"
trap 'bash "$ROOT/registry-test/registry.sh" stop "$DEMO/registry" >/dev/null 2>&1 || true' EXIT
echo "registry: http://$REGISTRY_HOST (plain HTTP, so network commands get --plain-http)"
NET=(--plain-http)
WHO=(--actor "release-bot")        # recorded in each stage event (default: git user.name)
LOCAL="$REPO:1.0.0"
REMOTE="$REGISTRY_HOST/$REPO:1.0.0"

step "1. ocikit init writes a Kitfile for an existing project"
cp -r examples/sentiment "$DEMO/init"
rm -rf "$DEMO/init/model"
oc init "$DEMO/init" </dev/null
if [ -f "$DEMO/init/Kitfile" ]; then cat "$DEMO/init/Kitfile"; fi
echo "(the tour uses the hand-written Kitfile.example, which names the trained model files)"

step "2. Train the example model and record its metrics in the Kitfile"
cp -r examples/sentiment "$DEMO/project"
rm -rf "$DEMO/project/model"
cp Kitfile.example "$DEMO/project/Kitfile"
say "python .demo/project/train.py --kitfile .demo/project/Kitfile"
python "$DEMO/project/train.py" --kitfile "$DEMO/project/Kitfile"
ls -l "$DEMO/project/model"

step "3. Pack it into the local store (an OCI image layout under \$OCIKIT_HOME)"
SOURCE_DATE_EPOCH=$PACK_EPOCH oc pack "$DEMO/project" -t "$LOCAL"
oc list
oc info "$LOCAL"

step "4. Push it to the registry"
oc push "$LOCAL" "$REMOTE" "${NET[@]}"

step "5. Sign it there (cosign v3-compatible: a Sigstore bundle attached as an OCI 1.1 referrer)"
cd "$DEMO/keys" && oc keygen && cd "$ROOT"              # writes cosign.key and cosign.pub here
cd "$DEMO/other-keys" && oc keygen && cd "$ROOT"        # a second pair, for a negative check
oc sign "$REMOTE" --key "$DEMO/keys/cosign.key" "${NET[@]}"

step "6. A serving host pulls and verifies it"
OCIKIT_HOME="$DEMO/serving" oc pull "$REMOTE" "${NET[@]}"
OCIKIT_HOME="$DEMO/serving" oc verify "$REMOTE" --key "$DEMO/keys/cosign.pub" "${NET[@]}"
echo "A key that did not sign it is refused:"
OCIKIT_HOME="$DEMO/serving" refused 3 verify "$REMOTE" --key "$DEMO/other-keys/cosign.pub" "${NET[@]}"

step "7. Unpack it, verifying the signature before writing a byte, and serve it"
OCIKIT_HOME="$DEMO/serving" oc unpack "$REMOTE" -d "$DEMO/serve" --verify-key "$DEMO/keys/cosign.pub" "${NET[@]}"
if [ -f "$DEMO/serve/predict.py" ]; then
  say "python .demo/serve/predict.py ..."
  python "$DEMO/serve/predict.py" "The kettle arrived broken." "Works perfectly, would buy again."
fi
echo "Only the layers a host needs (--filter), straight from the registry:"
OCIKIT_HOME="$DEMO/serving" oc unpack "$REMOTE" -d "$DEMO/model-only" --filter model "${NET[@]}"
if [ -d "$DEMO/model-only" ]; then (cd "$DEMO/model-only" && find . -type f | sort); fi

step "8. The SBOM (CycloneDX 1.6, attached to the ModelKit as an OCI referrer)"
oc sbom "$REMOTE" -o "$DEMO/sbom.json" "${NET[@]}"
if [ -s "$DEMO/sbom.json" ]; then head -n 25 "$DEMO/sbom.json"; echo "  ..."; fi

step "9. Check the unpacked files against the SBOM's hashes"
oc verify-files "$DEMO/serve" --sbom "$DEMO/sbom.json"
echo "A changed file is caught:"
if [ -f "$DEMO/serve/model/vocabulary.json" ]; then echo '"tampered"' >>"$DEMO/serve/model/vocabulary.json"; fi
refused 3 verify-files "$DEMO/serve" --sbom "$DEMO/sbom.json"

step "10. Promote: staging, then production behind gates on the recorded metrics"
oc promote "$REMOTE" --to staging --new-stage --reason "nightly candidate" "${WHO[@]}" "${NET[@]}"
echo "A gate the model does not meet refuses the promotion and changes nothing:"
refused 3 promote "$REMOTE" --to production --new-stage --require "model.parameters.metrics.accuracy >= 0.999" \
  --reason "release 1.0.0" "${WHO[@]}" "${NET[@]}"
oc promote "$REMOTE" --to production --new-stage --require "model.parameters.metrics.accuracy >= 0.9" \
  --require "model.parameters.metrics.f1 >= 0.9" --reason "release 1.0.0" "${WHO[@]}" "${NET[@]}"

step "11. A new version: more data, retrain, and see what changed"
cat >>"$DEMO/project/data/reviews.csv" <<'CSV'
The kettle boils fast and the handle stays cool.,positive
The headset crackles and the left speaker died.,negative
Setup took two minutes and it works perfectly.,positive
The monitor arrived with a dead pixel cluster.,negative
CSV
sed -i 's/^\(  *\)version: 1\.0\.0$/\1version: 1.1.0/' "$DEMO/project/Kitfile"
python "$DEMO/project/train.py" --kitfile "$DEMO/project/Kitfile"
SOURCE_DATE_EPOCH=$PACK_EPOCH oc pack "$DEMO/project" -t "$REPO:1.1.0"
oc diff "$LOCAL" "$REPO:1.1.0"
oc push "$REPO:1.1.0" "$REGISTRY_HOST/$REPO:1.1.0" "${NET[@]}"
oc promote "$REGISTRY_HOST/$REPO:1.1.0" --to staging --reason "more data" "${WHO[@]}" "${NET[@]}"

step "12. Stages, their audited hash-chained history, and the lineage of the repository"
oc stages "$REGISTRY_HOST/$REPO" "${NET[@]}"
oc history "$REGISTRY_HOST/$REPO" --stage staging --verify "${NET[@]}"
oc lineage "$REGISTRY_HOST/$REPO" "${NET[@]}"

step "Done"
echo "The whole tour ran. Files are in .demo/; the registry is stopped on exit."
