#!/usr/bin/env bash
# `ocikit list` with 1,000 ModelKits in the local store (target < 1 s).
source "$(dirname "$0")/lib.sh"
export OCIKIT_HOME="$WORK/list-home"
rm -rf "$OCIKIT_HOME"
PY=$(dirname "$(command -v ocikit)")/python
"$PY" - <<'PYEOF'
import io, json
from ocikit._layout import LocalStore
from ocikit._oci import KITOPS_CONFIG, KITOPS_MANIFEST_ARTIFACT, MANIFEST, Descriptor, Manifest
store = LocalStore.at_home()
for i in range(1000):
    repo = store.repository(f"localhost/acme/model{i % 50}")
    cfg = json.dumps({"manifestVersion": "1.0.0", "package": {"name": f"m{i}", "authors": ["ml team"]}}).encode()
    layer = f"layer {i}".encode()
    repo.push_blob(Descriptor.for_bytes(KITOPS_CONFIG, cfg), io.BytesIO(cfg))
    repo.push_blob(Descriptor.for_bytes("x", layer), io.BytesIO(layer))
    m = Manifest(Descriptor.for_bytes(KITOPS_CONFIG, cfg),
                 (Descriptor.for_bytes("application/vnd.kitops.modelkit.model.v1.tar", layer),),
                 artifact_type=KITOPS_MANIFEST_ARTIFACT)
    repo.push_manifest(m.to_bytes(), MANIFEST, tag=f"v{i}")
PYEOF
reset_times list_1000 py_pass
for _ in $(seq "$RUNS"); do
  run_timed py_pass "$PY" -c pass
  run_timed list_1000 ocikit list
done
echo "ocikit list, 1000 ModelKits: median $(median list_1000)s (target < 1 s), peak RSS $(peak_mib list_1000) MiB"
test "$(ocikit list | wc -l)" -eq 1001 || { echo "expected 1000 rows" >&2; exit 1; }
