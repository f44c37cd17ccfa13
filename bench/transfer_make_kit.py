"""Make the transfer bench's ModelKit: a Kitfile + one SIZE_MIB random model file, packed into HOME.

Usage: python bench/transfer_make_kit.py HOME CONTEXT SIZE_MIB REFERENCE
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    home, context, size_mib, reference = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    context.mkdir(parents=True, exist_ok=True)
    model = context / "model.bin"
    if not model.exists() or model.stat().st_size != size_mib << 20:
        with open(model, "wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(1 << 20))
    (context / "Kitfile").write_text(
        "manifestVersion: 1.0.0\npackage:\n  name: bench\nmodel:\n  name: bench\n  path: model.bin\n"
    )
    from ocikit._ops._pack import pack

    result = pack(context, tag=reference, home=home, sbom=False)
    print(result)


if __name__ == "__main__":
    main()
