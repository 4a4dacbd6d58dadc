"""Input files the user hands in: case files (JSON/YAML) and regimen files (bundled or a centre's)."""
