"""Reference data loading: the IPD-IMGT/HLA release folder (tables, MAC lists, TCE, KIR) and
py-ard built offline from the same folder."""
