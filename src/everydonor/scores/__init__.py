"""Clinical scores and event definitions, each by its published table (clinical-scores.md)."""
