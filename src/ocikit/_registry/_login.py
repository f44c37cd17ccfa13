"""``ocikit login`` / ``logout``: check credentials against a registry, then save or forget them.

Above the client (it pings the registry with the new credentials), so ``_auth`` stays below it.
"""

from __future__ import annotations

from pathlib import Path

from ocikit._config import RegistryOptions
from ocikit._registry import _credentials
from ocikit._registry._client import Registry
from ocikit._registry._credentials import Credential
from ocikit._registry._http import Transport
from ocikit.errors import AuthError, UsageError

__all__ = ["login", "logout"]


def login(
    registry: str,
    username: str,
    password: str,
    options: RegistryOptions | None = None,
    home: Path | None = None,
    *,
    transport: Transport | None = None,
) -> Path:
    """Check the credentials against ``/v2/`` of ``registry`` and save them. Returns the file.

    Nothing is saved when the registry refuses them (AuthError) or cannot be reached.
    """
    if not username or not password:
        raise UsageError("login needs a username and a password",
                         hint="pass -u USER and the password on stdin (--password-stdin)")
    options = options or RegistryOptions()
    cred = Credential(username, password)
    reg = Registry(registry, options, transport=transport, credentials=cred)
    try:
        reg.ping(require_auth=True)
    except AuthError as e:
        raise AuthError(f"login to {registry} failed: the registry refused the credentials of {username!r}",
                        hint="check the username and password; nothing was saved") from e
    return _credentials.store(registry, cred, home=home, options=options)


def logout(registry: str, options: RegistryOptions | None = None, home: Path | None = None) -> bool:
    """Forget the saved credentials of ``registry``; True if there were any."""
    return _credentials.erase(registry, home=home, options=options)
