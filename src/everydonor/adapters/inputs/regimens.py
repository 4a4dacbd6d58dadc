"""Regimen files: the bundled ones (``everydonor/data/regimens/*.yaml``) and a centre's own."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from everydonor.errors import InputError
from everydonor.treatment.regimen import Regimen, regimen_from_mapping


def regimen_dir() -> Path:
    return Path(str(resources.files("everydonor").joinpath("data", "regimens")))


def read_regimen_file(path: Path | str) -> Regimen:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read regimen file {str(p)!r}: {exc.strerror}",
                         field="--regimen", value=str(p)) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"regimen file {p.name!r} is not valid YAML: {exc}",
                         field="--regimen", value=str(p)) from exc
    return regimen_from_mapping(data, source=str(p))


def bundled_regimens() -> list[Regimen]:
    return [read_regimen_file(p) for p in sorted(regimen_dir().glob("*.yaml"))]


def load_regimen(spec: str) -> Regimen:
    """A bundled regimen by id, or a regimen file by path (``.yaml``/``.yml``/``.json``)."""
    if spec.endswith((".yaml", ".yml", ".json")) or "/" in spec:
        return read_regimen_file(spec)
    path = regimen_dir() / f"{spec}.yaml"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(regimen_dir().glob("*.yaml")))
        raise InputError(f"unknown regimen {spec!r}; bundled: {known} (or give a regimen file)",
                         field="--regimen", value=spec)
    regimen = read_regimen_file(path)
    if regimen.id != spec:
        raise InputError(f"bundled regimen file {path.name} declares id {regimen.id!r}",
                         field="--regimen", value=spec)
    return regimen
