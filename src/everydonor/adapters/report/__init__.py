"""Renderers for the donor-selection answer: terminal table, HTML report, PDF (WeasyPrint)."""
