"""Unrelated-donor search over a donor store: the runner (here or on Dask), frequency files, GPU."""
