"""The version, in one place (read by the build backend and the User-Agent)."""

__version__ = "0.1.0"


def user_agent() -> str:
    """The ``User-Agent`` of every request ocikit sends (registry and token server alike)."""
    return f"ocikit/{__version__}"
