"""The patient registry: SQLAlchemy 2 models, Alembic migrations shipped in the package,
row history, a hash-chained audit trail, backup/restore and the ``registry`` commands.

Modules: ``config`` (URL, engine settings, pseudonym key), ``models`` (tables), ``migrate`` and
``migrations/`` (schema revisions), ``codec`` (exact JSON for verbatim values, digests),
``casemap`` (case file ↔ rows), ``history`` (versions, soft delete), ``audit`` (the chain),
``followup`` (event types), ``store`` (the repository), ``backup``, ``commands`` (CLI).
The clinical core never imports this package (import-linter).
"""
