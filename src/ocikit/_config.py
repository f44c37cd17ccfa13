"""Where ocikit keeps things, and the options every registry operation takes. No side effects."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ocikit.errors import UsageError

__all__ = ["RegistryOptions", "credentials_path", "home_dir", "source_date_epoch", "store_dir"]

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


def source_date_epoch() -> datetime | None:
    """``$SOURCE_DATE_EPOCH`` as a UTC time, or None when unset or empty.

    The one reading of https://reproducible-builds.org/specs/source-date-epoch/ for every time
    ocikit records (image ``created``, ModelPack ``createdAt``, SBOM and stage-event times): a value
    that is set but is not whole seconds since 1970 is refused, never silently replaced by "now".
    """
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is None or raw.strip() == "":
        return None
    try:
        return datetime.fromtimestamp(int(raw.strip()), tz=timezone.utc)
    except (ValueError, OverflowError, OSError) as e:
        raise UsageError(
            f"SOURCE_DATE_EPOCH={raw!r} is not a Unix timestamp",
            hint="set SOURCE_DATE_EPOCH to whole seconds since 1970-01-01, or unset it",
        ) from e


@dataclass(frozen=True)
class RegistryOptions:
    """The network options every registry-touching command shares (defined once in the CLI)."""

    plain_http: bool = False
    tls_verify: bool = True
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    concurrency: int = 4
    #: Read registry references from the local store only (what was pulled), never the network.
    offline: bool = False
    #: Where credentials are read from besides Docker's config; None = ``credentials_path(home)``.
    credentials_file: str | None = None
    #: The HTTP seam for every registry this reaches (an ``ocikit._registry._http.Transport``; typed
    #: ``object`` because this module sits below the registry layer). None = urllib3 with the TLS
    #: options above. ``ocikit.Client(transport=...)`` sets it; tests pass an in-process fake.
    transport: object | None = field(default=None, compare=False, repr=False)
