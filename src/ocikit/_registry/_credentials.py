"""Registry credentials in Docker's ``config.json`` format.

Reads, in order: ocikit's own file (``credentials_path(home)``, or ``RegistryOptions.credentials_file``)
and then Docker's (``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``), as KitOps does
since its PR #910 (``docs/compatibility.md`` §4.12). In each file: ``credHelpers[host]``, then
``auths[host]`` (``auth`` = base64 ``user:password``, or ``username``/``password``, or
``identitytoken``), then ``credsStore``. Helpers speak Docker's protocol
(https://github.com/docker/docker-credential-helpers: ``docker-credential-<name> get`` with the
server on stdin, JSON ``{"Username", "Secret"}`` on stdout; Username ``<token>`` = identity token).

Writes go only to ocikit's file: created 0600, replaced atomically. Secrets never appear in a
``repr``, a log line or an exception message.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocikit._config import RegistryOptions, credentials_path, home_dir
from ocikit._io._files import write_atomic
from ocikit.errors import StoreError

__all__ = ["Credential", "docker_config_path", "erase", "lookup", "ocikit_credentials_file", "store"]

log = logging.getLogger(__name__)

_MAX_CONFIG = 4 * 1024 * 1024
_HELPER_TIMEOUT = 30


@dataclass(frozen=True, repr=False)
class Credential:
    """A username + password, or an identity (refresh) token. ``repr`` hides the secrets."""

    username: str = ""
    password: str = ""
    identity_token: str = ""

    def __repr__(self) -> str:
        secret = "***" if (self.password or self.identity_token) else ""
        return f"Credential(username={self.username!r}, secret={secret!r})"

    __str__ = __repr__

    @property
    def is_empty(self) -> bool:
        return not (self.username or self.password or self.identity_token)


def docker_config_path() -> Path:
    env = os.environ.get("DOCKER_CONFIG")
    base = Path(env).expanduser() if env else Path.home() / ".docker"
    return base / "config.json"


def ocikit_credentials_file(home: Path | None = None, options: RegistryOptions | None = None) -> Path:
    if options is not None and options.credentials_file:
        return Path(options.credentials_file).expanduser()
    return credentials_path(home if home is not None else home_dir())


def _load(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_CONFIG + 1)
    except FileNotFoundError:
        return {}
    except OSError as e:
        log.warning("cannot read credentials file %s: %s", path, e.strerror)
        return {}
    if len(data) > _MAX_CONFIG:
        log.warning("ignoring credentials file %s: larger than 4 MiB", path)
        return {}
    try:
        obj = json.loads(data or b"{}")
    except ValueError:
        log.warning("ignoring credentials file %s: not valid JSON", path)
        return {}
    return obj if isinstance(obj, dict) else {}


def _host_keys(host: str) -> list[str]:
    """Keys Docker's config may use for ``host`` (Docker writes URLs for Docker Hub)."""
    keys = [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]
    if host in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        keys.append("https://index.docker.io/v1/")
    return keys


def _from_auth_entry(entry: Any) -> Credential | None:
    if not isinstance(entry, dict):
        return None
    username = entry.get("username") if isinstance(entry.get("username"), str) else ""
    password = entry.get("password") if isinstance(entry.get("password"), str) else ""
    token = entry.get("identitytoken") if isinstance(entry.get("identitytoken"), str) else ""
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            log.warning("ignoring a malformed 'auth' entry in a credentials file")
            decoded = ""
        user, sep, secret = decoded.partition(":")
        if sep:
            username, password = user, secret
    cred = Credential(username or "", password or "", token or "")
    return None if cred.is_empty else cred


def _from_helper(helper: str, host: str) -> Credential | None:
    if not helper or "/" in helper or helper.startswith("."):
        return None
    exe = f"docker-credential-{helper}"
    try:
        done = subprocess.run([exe, "get"], input=host.encode(), capture_output=True,
                              timeout=_HELPER_TIMEOUT, check=False)
    except FileNotFoundError:
        log.warning("credential helper %s is not installed", exe)
        return None
    except (OSError, subprocess.TimeoutExpired) as e:
        log.warning("credential helper %s failed: %s", exe, type(e).__name__)
        return None
    if done.returncode != 0:
        # "credentials not found in native keychain" is the normal "no entry" answer.
        log.debug("credential helper %s has no entry for %s", exe, host)
        return None
    try:
        obj = json.loads(done.stdout)
    except ValueError:
        log.warning("credential helper %s printed something that is not JSON", exe)
        return None
    if not isinstance(obj, dict):
        return None
    username, secret = str(obj.get("Username") or ""), str(obj.get("Secret") or "")
    if username == "<token>":
        return Credential(identity_token=secret)
    cred = Credential(username, secret)
    return None if cred.is_empty else cred


def _lookup_in(config: dict[str, Any], host: str) -> Credential | None:
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict) and isinstance(helpers.get(host), str):
        found = _from_helper(helpers[host], host)
        if found is not None:
            return found
    auths = config.get("auths")
    if isinstance(auths, dict):
        for key in _host_keys(host):
            if key in auths:
                found = _from_auth_entry(auths[key])
                if found is not None:
                    return found
    store_name = config.get("credsStore")
    if isinstance(store_name, str) and store_name:
        return _from_helper(store_name, host)
    return None


def lookup(host: str, *, home: Path | None = None, options: RegistryOptions | None = None) -> Credential | None:
    """Credentials for ``host`` (``registry.example:5000``), or None for anonymous access."""
    for path in (ocikit_credentials_file(home, options), docker_config_path()):
        found = _lookup_in(_load(path), host)
        if found is not None:
            log.debug("using credentials for %s from %s", host, path)
            return found
    return None


def _write_atomic(path: Path, config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()
    try:
        write_atomic(path, data, mode=0o600)
    except OSError as e:
        raise StoreError(f"cannot write credentials to {path}: {e.strerror}",
                         hint="check the permissions of ocikit's home directory") from e


def store(host: str, cred: Credential, *, home: Path | None = None, options: RegistryOptions | None = None) -> Path:
    """Save ``cred`` for ``host`` in ocikit's credentials file; returns the file's path."""
    path = ocikit_credentials_file(home, options)
    config = _load(path)
    auths = config.get("auths")
    if not isinstance(auths, dict):
        auths = {}
    entry: dict[str, str] = {}
    if cred.identity_token:
        entry["identitytoken"] = cred.identity_token
        if cred.username:
            entry["username"] = cred.username
    else:
        entry["auth"] = base64.b64encode(f"{cred.username}:{cred.password}".encode()).decode()
    auths[host] = entry
    config["auths"] = auths
    _write_atomic(path, config)
    return path


def erase(host: str, *, home: Path | None = None, options: RegistryOptions | None = None) -> bool:
    """Forget ``host`` in ocikit's credentials file. True if there was an entry."""
    path = ocikit_credentials_file(home, options)
    config = _load(path)
    auths = config.get("auths")
    if not isinstance(auths, dict) or host not in auths:
        return False
    del auths[host]
    _write_atomic(path, config)
    return True
