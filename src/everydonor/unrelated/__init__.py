"""Unrelated donor search: frequency sets, exact imputation, match prediction, registry scan.

Pipeline (each module one step, pure; storage and execution live in ``everydonor.adapters``):
``expansion`` (typings pre-expanded at import) → ``scan`` (who can match within N) →
``frequencies`` + ``imputation`` (every explaining diplotype, no truncation) → ``prediction``
(P(10/10), P(9/10), P(8/10), per-locus categories) → ``search`` (plan, partitions, ranking,
the JSON answer). ``simulation`` makes synthetic registries for tests and benchmarks.
"""
