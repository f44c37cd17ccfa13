"""Stages on a ``Storage``: stage tags, hash-chained stage events stored as referrers of the ModelKit,
the walk that checks a history, the gate expressions and policy, and promote/rollback/history.

``_event`` (names, tags, the event and status values), ``_chain`` (reading and checking the chain),
``_gates`` (expressions, policy file), ``_candidate`` (a ModelKit and its gates), ``_write`` (push
an event, move the tags, the lost-write retry), ``_promote`` and ``_history`` (the operations).

May import ``_trust`` and below; opening storages from references is ``_ops``'s job (``_ops._stages``).
"""
