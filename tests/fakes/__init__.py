"""In-process fakes for unit tests: a fake OCI registry behind an injectable transport, and ModelKit builders."""
