"""Donor selection: rule sets (one per platform and guideline version) and the ranking."""
