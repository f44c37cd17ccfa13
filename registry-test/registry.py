#!/usr/bin/env python3
"""Start and stop a real CNCF distribution registry on loopback, for tests, the demo and benches.

Uses Debian's ``docker-registry`` (distribution 2.8, the code of the ``registry:2`` image). The
registry listens on ``127.0.0.1:0`` (the kernel picks a free port, read back from the log line
``listening on 127.0.0.1:NNNNN``), keeps its storage in a temporary directory and has deletes
enabled. Three variants:

* ``plain`` — plain HTTP, no auth;
* ``tls``   — HTTPS with a freshly generated CA (``openssl``) and a server certificate for
  ``IP:127.0.0.1, DNS:localhost``;
* ``auth``  — HTTPS as ``tls`` plus htpasswd basic auth (bcrypt, ``htpasswd -Bbn``).

Standard library only, so ``registry.sh`` can run it with any ``python3``. Used as a module by
``tests/_registry_fixtures.py``::

    reg = start("auth", workdir)
    ...
    stop(reg)

and from the shell (see README.md)::

    eval "$(python3 registry-test/registry.py start --variant tls --dir /tmp/reg)"
    python3 registry-test/registry.py stop --dir /tmp/reg
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

VARIANTS = ("plain", "tls", "auth")
DEFAULT_USER = "ocikit"
DEFAULT_PASSWORD = "test-password-not-secret"  # noqa: S105 - a throwaway test registry
#: Registries this process started, so stopping one reaps it through its Popen (a Popen dropped
#: while its child runs is a ResourceWarning, and the test suite treats warnings as errors).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}

_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


class RegistryStartError(RuntimeError):
    """The registry could not be started (binary missing, bad config, no log line in time)."""


@dataclass(frozen=True)
class RunningRegistry:
    variant: str
    host: str  # "127.0.0.1:PORT"
    url: str  # "http://127.0.0.1:PORT" or "https://..."
    pid: int
    workdir: str
    log_file: str
    config_file: str
    ca_file: str | None = None  # PEM of the CA that signed the server certificate
    cert_dir: str | None = None  # a dir holding ca.crt, for skopeo --cert-dir
    username: str | None = None
    password: str | None = None

    @property
    def plain_http(self) -> bool:
        return self.variant == "plain"

    def env(self) -> dict[str, str]:
        """Shell variables describing this registry (REGISTRY_HOST, REGISTRY_CA, ...)."""
        out = {
            "REGISTRY_HOST": self.host,
            "REGISTRY_URL": self.url,
            "REGISTRY_PID": str(self.pid),
            "REGISTRY_DIR": self.workdir,
            "REGISTRY_VARIANT": self.variant,
            "REGISTRY_PLAIN_HTTP": "1" if self.plain_http else "0",
        }
        if self.ca_file:
            out["REGISTRY_CA"] = self.ca_file
        if self.cert_dir:
            out["REGISTRY_CERT_DIR"] = self.cert_dir
        if self.username:
            out["REGISTRY_USER"] = self.username
        if self.password:
            out["REGISTRY_PASSWORD"] = self.password
        return out


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise RegistryStartError(f"{cmd[0]} is not installed (run install-deps.sh)") from e
    if done.returncode != 0:
        raise RegistryStartError(f"{' '.join(cmd[:2])} failed: {done.stderr.strip()[:500]}")
    return done.stdout


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it. Returns (ca, cert, key).

    A real CA (basicConstraints CA:TRUE, keyCertSign) rather than one self-signed leaf, so strict
    verifiers (Python's VERIFY_X509_STRICT, Go) accept the chain.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.pem"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "7",
          "-keyout", str(ca_key), "-out", str(ca_crt), "-subj", "/CN=ocikit test CA",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign",
          "-addext", "subjectKeyIdentifier=hash"])
    _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-keyout", str(key),
          "-out", str(csr), "-subj", "/CN=localhost"])
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "authorityKeyIdentifier=keyid,issuer\n"
        "subjectKeyIdentifier=hash\n"
    )
    _run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
          "-CAcreateserial", "-days", "7", "-sha256", "-extfile", str(ext), "-out", str(crt)])
    return ca_crt, crt, key


def _config(
    workdir: Path, variant: str, cert: Path | None, key: Path | None, htpasswd: Path | None
) -> str:
    # JSON is valid YAML: no YAML library needed, and paths are quoted correctly.
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(workdir / "data")},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": "127.0.0.1:0", "secret": "test-secret-not-for-production"},
    }
    if cert is not None and key is not None:
        config["http"]["tls"] = {"certificate": str(cert), "key": str(key)}  # type: ignore[index]
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "localhost", "path": str(htpasswd)}}
    return json.dumps(config, indent=2)


def start(variant: str = "plain", workdir: str | os.PathLike[str] | None = None, *,
          binary: str = "docker-registry", timeout: float = 20.0,
          username: str = DEFAULT_USER, password: str = DEFAULT_PASSWORD) -> RunningRegistry:
    """Start a registry of ``variant`` with its files in ``workdir`` (a new temp dir if None)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
    exe = shutil.which(binary)
    if exe is None:
        raise RegistryStartError(f"{binary} not found on PATH (run registry-test/install-deps.sh)")
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix="ocikit-registry-")
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    (work / "data").mkdir(exist_ok=True)
    ca = cert = key = htpasswd = None
    cert_dir = None
    if variant in ("tls", "auth"):
        ca, cert, key = make_certificates(work / "tls")
        cert_dir = work / "certs"
        cert_dir.mkdir(exist_ok=True)
        shutil.copyfile(ca, cert_dir / "ca.crt")  # skopeo --cert-dir wants *.crt
    if variant == "auth":
        htpasswd = work / "htpasswd"
        htpasswd.write_text(_run(["htpasswd", "-Bbn", username, password]))
    config_file = work / "config.yml"
    config_file.write_text(_config(work, variant, cert, key, htpasswd))
    log_file = work / "registry.log"
    with open(log_file, "wb") as log:
        proc = subprocess.Popen([exe, "serve", str(config_file)], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _CHILDREN[proc.pid] = proc
    (work / "registry.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    port = None
    while time.monotonic() < deadline:
        match = _LISTENING.search(log_file.read_text(errors="replace"))
        if match:
            port = int(match.group(1))
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    if port is None:
        _terminate(proc.pid)
        tail = log_file.read_text(errors="replace")[-800:]
        raise RegistryStartError(f"docker-registry did not start ({variant}); log tail:\n{tail}")
    scheme = "http" if variant == "plain" else "https"
    reg = RunningRegistry(
        variant=variant,
        host=f"127.0.0.1:{port}",
        url=f"{scheme}://127.0.0.1:{port}",
        pid=proc.pid,
        workdir=str(work),
        log_file=str(log_file),
        config_file=str(config_file),
        ca_file=str(ca) if ca else None,
        cert_dir=str(cert_dir) if cert_dir else None,
        username=username if variant == "auth" else None,
        password=password if variant == "auth" else None,
    )
    (work / "registry.json").write_text(json.dumps(asdict(reg), indent=2))
    return reg


def _terminate(pid: int, timeout: float = 5.0) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.terminate()
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child (started by another process): poll instead
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            done = 0
        if done == pid:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def stop(reg: RunningRegistry | str | os.PathLike[str]) -> None:
    """Stop a registry by its PID (given the value from :func:`start` or its workdir)."""
    if isinstance(reg, RunningRegistry):
        _terminate(reg.pid)
        return
    pid_file = Path(reg) / "registry.pid"
    if pid_file.exists():
        _terminate(int(pid_file.read_text().strip()))
        pid_file.unlink()


def load(workdir: str | os.PathLike[str]) -> RunningRegistry:
    """The registry started earlier in ``workdir`` (from its ``registry.json``)."""
    return RunningRegistry(**json.loads((Path(workdir) / "registry.json").read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", help="start a registry and print shell exports")
    p_start.add_argument("--variant", choices=VARIANTS, default="plain")
    p_start.add_argument("--dir", help="working directory (default: a new temp dir)")
    p_stop = sub.add_parser("stop", help="stop the registry started in --dir")
    p_stop.add_argument("--dir", default=os.environ.get("REGISTRY_DIR"))
    args = parser.parse_args(argv)
    if args.command == "start":
        try:
            reg = start(args.variant, args.dir)
        except RegistryStartError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        for name, value in reg.env().items():
            print(f"export {name}={shlex.quote(value)}")
        return 0
    if not args.dir:
        print("error: stop needs --dir (or REGISTRY_DIR)", file=sys.stderr)
        return 2
    stop(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
