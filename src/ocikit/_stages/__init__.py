"""Stages: stage tags, hash-chained stage events stored as referrers of the ModelKit, the walk that
checks a history, the gate expressions and policy, and promote/rollback on a ``Storage``.

May import ``_trust`` and below; opening storages from references is ``_ops``'s job.
"""
