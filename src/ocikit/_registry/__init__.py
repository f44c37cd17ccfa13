"""The OCI distribution API as a ``Storage``: the HTTP transport seam, auth challenges and token cache,
credentials in Docker format, the registry client and repository (manifests, tags, referrers,
resumable chunked uploads, verified downloads), upload sessions and blob-source hints.

May import ``_store`` and below.
"""
