"""Train, pack, push, sign and verify a ModelKit from Python with the public ``ocikit`` API.

A release job in one script: it trains the example model (examples/sentiment, scikit-learn),
records the held-out metrics in the Kitfile under ``model.parameters.metrics`` (where
``ocikit diff`` and promotion gates can read them), packs the project into the local store,
pushes it, signs the pushed digest and verifies the signature::

    python examples/train_and_release.py --registry 127.0.0.1:5000 --plain-http
    python examples/train_and_release.py --registry registry.example --repository acme/sentiment \\
        --version 1.1.0 --key release.key

Without ``--key`` a throwaway key pair is generated in the work directory. The last line printed
is a JSON summary (reference, digest, metrics, signature tag). Nothing is downloaded: the data
ships with the example.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import ocikit
from ocikit import Kitfile, RegistryOptions

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE / "sentiment"
KITFILE = HERE.parent / "Kitfile.example"


def load_trainer(project: Path) -> Any:
    """Import the project's train.py (it is a script, not an installed module)."""
    spec = importlib.util.spec_from_file_location("sentiment_train", project / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def with_metrics(kitfile: Kitfile, version: str, metrics: dict[str, Any]) -> Kitfile:
    """A copy of ``kitfile`` at ``version`` with ``metrics`` under model.parameters."""
    data = kitfile.to_dict()
    data["package"]["version"] = version
    data["model"]["version"] = version
    parameters = dict(data["model"].get("parameters") or {})
    parameters["metrics"] = metrics
    data["model"]["parameters"] = parameters
    return Kitfile.from_dict(data)


def release(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    project = work / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("model", "__pycache__"))

    trainer = load_trainer(project)
    metrics = trainer.train(project / "data" / "reviews.csv", project / "model")
    print(f"trained: {metrics}")

    kitfile = with_metrics(Kitfile.load(KITFILE), args.version, metrics)
    (project / "Kitfile").write_text(kitfile.to_yaml(), encoding="utf-8")

    local = f"{args.repository}:{args.version}"
    remote = f"{args.registry}/{args.repository}:{args.version}"
    options = RegistryOptions(plain_http=args.plain_http, ca_file=args.ca_file)

    packed = ocikit.pack(project, tag=local, home=args.home)
    print(f"packed: {local} {packed.digest}")

    ocikit.push(local, remote, home=args.home, options=options)
    print(f"pushed: {remote}")

    key = args.key
    if key is None:
        key, _ = ocikit.keygen(work / "release", password="")
    signed = ocikit.sign(remote, key, password=args.password, home=args.home, options=options)
    print(f"signed: {signed.digest} -> Sigstore bundle referrer {signed.referrer.digest}")

    public = Path(str(key)).with_suffix(".pub")
    verified = ocikit.verify(remote, public, home=args.home, options=options)
    print(f"verified: {verified.digest}")
    if verified.digest != packed.digest:
        raise SystemExit(f"the registry serves {verified.digest}, but {packed.digest} was packed")

    return {
        "reference": remote,
        "digest": str(packed.digest),
        "metrics": metrics,
        "signature": str(signed.referrer.digest),  # a bundle attached as an OCI 1.1 referrer
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", required=True, help="registry host[:port]")
    parser.add_argument("--repository", default="acme/sentiment")
    parser.add_argument("--version", default="1.0.0", help="tag and Kitfile version")
    parser.add_argument("--plain-http", action="store_true", help="the registry speaks plain HTTP")
    parser.add_argument("--ca-file", help="CA bundle (PEM) for the registry's certificate")
    parser.add_argument("--key", type=Path, help="private signing key (the .pub must sit beside it)")
    parser.add_argument("--password", default=None, help="key password (default: $OCIKIT_PASSWORD)")
    parser.add_argument("--home", help="ocikit home (default: $OCIKIT_HOME)")
    parser.add_argument("--work", type=Path, help="work directory to keep (default: a temporary one)")
    args = parser.parse_args()
    try:
        if args.work is not None:
            args.work.mkdir(parents=True, exist_ok=True)
            summary = release(args, args.work)
        else:
            with tempfile.TemporaryDirectory(prefix="ocikit-release-") as tmp:
                summary = release(args, Path(tmp))
    except ocikit.errors.OcikitError as e:
        print(f"error: {e}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        raise SystemExit(e.exit_code) from None
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
