"""The OCI distribution API as a ``Storage``: the HTTP transport seam, auth challenges and token cache,
credentials in Docker format, the registry host (``send``: auth, retries, redirects) and its
repositories (manifests, tags, referrers), resumable chunked uploads, resumed downloads, upload
sessions and blob-source hints, and login/logout.

May import ``_store`` and below.
"""
