"""Where ocikit keeps things, and the options every registry operation takes. No side effects."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RegistryOptions", "credentials_path", "home_dir", "store_dir"]

ENV_HOME = "OCIKIT_HOME"


def home_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--home`` > ``$OCIKIT_HOME`` > ``$XDG_DATA_HOME/ocikit`` > ``~/.local/share/ocikit``."""
    if explicit:
        return Path(explicit).expanduser().absolute()
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser().absolute()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return (base / "ocikit").absolute()


def store_dir(home: Path) -> Path:
    """The local OCI image layout (readable as ``oci:<store_dir>:<reference>`` by skopeo)."""
    return home / "store"


def credentials_path(home: Path) -> Path:
    """ocikit's own credentials file, in Docker ``config.json`` format."""
    return home / "credentials.json"


@dataclass(frozen=True)
class RegistryOptions:
    """The network options every registry-touching command shares (defined once in the CLI)."""

    plain_http: bool = False
    tls_verify: bool = True
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    concurrency: int = 4
    #: Where credentials are read from besides Docker's config; None = ``credentials_path(home)``.
    credentials_file: str | None = None
