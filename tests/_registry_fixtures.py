"""Fixtures that start a real CNCF distribution registry (see registry-test/). Filled by the transport work."""
