"""Worker processes for the crash and concurrency tests: ``python _workers.py <mode> <home> ...``.

Each mode drives the local store through its public primitives (``LocalStore``, ``LayoutRepository``)
as fast as it can, so a ``kill -9`` at a random moment lands inside a blob write, an ingest, or an
``index.json`` replace. Runs as a script (no pytest) so the parent can kill it.
"""

from __future__ import annotations

import io
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from fakes.kits import put_kit
from ocikit._oci._model import Descriptor
from ocikit._store._layout import LocalStore
from ocikit.errors import NotFoundError


def store_ops(home: str, ops: int, seed: int) -> None:
    """Write blobs in pieces, resume ingests, push/tag/untag/delete manifests; ``ops`` < 0 = forever."""
    rng = random.Random(seed)
    store = LocalStore.at_home(home)
    repo = store.repository("localhost/crash/kit")
    i = 0
    while ops < 0 or i < ops:
        i += 1
        layer = rng.randbytes(rng.randint(4 * 1024, 64 * 1024))
        # a blob written in small pieces, so a kill often lands mid-write
        with store.blob_writer() as w:
            for start in range(0, len(layer), 4 * 1024):
                w.write(layer[start : start + 4 * 1024])
                w.flush()
            w.commit()
        # a resumable download: part now, the rest "later"
        body = rng.randbytes(32 * 1024)
        desc = Descriptor.for_bytes("application/octet-stream", body)
        with store.ingest(desc) as part, part.open() as f:
            f.write(body[part.offset : part.offset + 16 * 1024])
        with store.ingest(desc) as part:
            with part.open() as f:
                f.write(body[part.offset :])
            part.commit()
        kit = put_kit(store, "localhost/crash/kit", f"t{i % 5}", f"k{seed}-{i}", [layer, body])
        repo.tag(kit.manifest, "latest")
        if rng.random() < 0.3:
            with contextlib.suppress(NotFoundError):
                repo.untag(f"t{(i + 2) % 5}")
        if rng.random() < 0.1:
            with contextlib.suppress(NotFoundError):
                repo.delete_manifest(kit.manifest.digest)


def tagger(home: str, worker: int, count: int) -> None:
    """Tag ``count`` distinct tags (and push/untag/delete noise) in a shared store; print our tags."""
    store = LocalStore.at_home(home)
    repo = store.repository("localhost/shared/kit")
    mine = []
    for i in range(count):
        shared = b"shared layer bytes " * 4096  # every worker writes the same blob concurrently
        own = f"worker {worker} item {i}".encode() * 512
        kit = put_kit(store, "localhost/shared/kit", f"w{worker}-{i}", f"w{worker}-{i}", [shared, own])
        mine.append(f"w{worker}-{i}")
        repo.tag(kit.manifest, f"w{worker}-{i}-alias")
        repo.untag(f"w{worker}-{i}-alias")
        scratch = put_kit(store, f"localhost/scratch/w{worker}", "tmp", f"s{worker}-{i}", [own + b"!"])
        store.repository(f"localhost/scratch/w{worker}").delete_manifest(scratch.manifest.digest)
        with store.ingest(Descriptor.for_bytes("application/octet-stream", shared)) as part:
            if not store.has_blob(part.desc.digest):
                with part.open() as f:
                    f.write(shared[part.offset :])
                part.commit()
    print("\n".join(mine))


def pusher(home: str, worker: int, count: int) -> None:
    """Write the same blob from many processes through push_blob (content-addressed dedupe)."""
    store = LocalStore.at_home(home)
    repo = store.repository("localhost/shared/blobs")
    data = b"".join(bytes([b]) * 1024 for b in range(256))
    desc = Descriptor.for_bytes("application/octet-stream", data)
    for _ in range(count):
        repo.push_blob(desc, io.BytesIO(data))
        assert store.blob_path(desc.digest).read_bytes() == data
    print(worker)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "store-ops":
        store_ops(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "tagger":
        tagger(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "pusher":
        pusher(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    sys.stdout.flush()
    os._exit(0)
