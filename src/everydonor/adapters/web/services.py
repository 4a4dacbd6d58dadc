"""What the routers share: the registry, the accounts, the reference release, the templates,
and the clinical computations (ranking, plans) on stored patients — the core does the work.

Rankings are pure functions of the case data, the rule set and the release, so a computed
ranking is kept (in memory, per process) under the SHA-256 of the case data it came from: a
change to the data changes the key, and a stale ranking can never be shown.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from everydonor import __version__
from everydonor.adapters.registry.accounts import ROLES, Accounts
from everydonor.adapters.registry.store import Registry
from everydonor.adapters.report.html import install_translations
from everydonor.adapters.web import i18n
from everydonor.adapters.web.settings import WebSettings

NOTICE = ("Decision support for the treating transplant team; check every answer against its "
          "source before clinical use.")
TEMPLATES = __file__.rsplit("/", 1)[0] + "/templates"


@dataclass(frozen=True, slots=True)
class Ranked:
    """A ranking computed from a stored patient's case, with what it stood on."""

    document: dict[str, Any]
    family: dict[str, Any]
    match: dict[str, Any]
    data_sha256: str
    patient_version: int
    rules: Any


class Reference:
    """The release tables, MAC list and reducer, loaded once per process."""

    def __init__(self, imgt_dir: str | None, mac_file: str | None) -> None:
        self.imgt_dir = imgt_dir
        self.mac_file = mac_file
        self._lock = threading.Lock()
        self._loaded: dict[str, Any] = {}

    def _get(self, name: str) -> Any:
        with self._lock:
            if not self._loaded:
                from everydonor.adapters.reference.imgt import (
                    load_kir_table,
                    load_reference,
                    open_release,
                    read_mac_file,
                    read_tce,
                )
                from everydonor.hla.reduction import Reducer

                ref = load_reference(self.imgt_dir)
                macs = read_mac_file(self.mac_file) if self.mac_file else None
                self._loaded = {"ref": ref, "macs": macs, "reducer": Reducer(ref, macs),
                                "tce": read_tce(open_release(self.imgt_dir)),
                                "kir": load_kir_table(self.imgt_dir)}
            return self._loaded[name]

    @property
    def ref(self) -> Any:
        return self._get("ref")

    @property
    def reducer(self) -> Any:
        return self._get("reducer")

    @property
    def tce(self) -> Any:
        return self._get("tce")

    @property
    def kir(self) -> Any:
        return self._get("kir")

    @property
    def macs(self) -> Any:
        return self._get("macs")

    @property
    def release(self) -> str:
        return str(self.ref.release)

    def provenance(self) -> dict[str, Any]:
        return {"software": f"everydonor {__version__}",
                "reference": f"IPD-IMGT/HLA {self.release}",
                "mac_list": self.macs.describe() if self.macs else None, "notice": NOTICE}


@functools.cache
def shared_reference(imgt_dir: str | None, mac_file: str | None) -> Reference:
    """One loaded release per process and (release folder, MAC list)."""
    return Reference(imgt_dir, mac_file)


class WebServices:
    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.reference = shared_reference(settings.imgt_dir, settings.mac_file)
        # the registry checks and reduces every stored typing against the app's release
        self.registry = Registry(settings.db, reducer=self.reference.reducer)
        self.accounts = Accounts(self.registry)
        self._envs: dict[str, jinja2.Environment] = {}
        self._ranked: OrderedDict[tuple[str, str, str], Ranked] = OrderedDict()
        self._ranked_lock = threading.Lock()

    def now(self) -> dt.datetime:
        return self.settings.clock()

    # -- templates -----------------------------------------------------------------------------

    def env(self, lang: str) -> jinja2.Environment:
        env = self._envs.get(lang)
        if env is None:
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(TEMPLATES),
                autoescape=True,  # SR-16: every value escaped unless marked safe
                extensions=["jinja2.ext.i18n"],
                undefined=jinja2.StrictUndefined,
                trim_blocks=True, lstrip_blocks=True,
            )
            # _() escapes what it translates: safe on a non-literal (report.html says why)
            install_translations(env, i18n.translations(lang))
            env.globals.update(version=__version__, notice=NOTICE, roles=ROLES,
                               languages=i18n.LANGUAGES)
            env.filters["dt"] = _format_time
            env.filters["nl2br"] = _nl2br
            env.filters["label"] = field_label
            self._envs[lang] = env
        return env

    # -- clinical computations on stored patients ----------------------------------------------

    def ranked(self, upn: str, rules_name: str,
               current: tuple[dict[str, Any], str, int] | None = None) -> Ranked:
        """The ranking of the stored patient under a rule set (the core's rank_case).
        ``current``: the patient's ``Registry.clinical_case`` when the caller has just read it
        (the patient page), so it is not read twice in one request."""
        from everydonor.case import parse_case
        from everydonor.selection.catalogue import get_rule_set
        from everydonor.selection.ranking import rank_case

        rules = get_rule_set(rules_name)
        document, data_sha, version = current or self.registry.clinical_case(upn)
        key = (data_sha, f"{rules.name}@{rules.version}", self.reference.release)
        with self._ranked_lock:
            hit = self._ranked.get(key)
            if hit is not None:
                self._ranked.move_to_end(key)
                return hit
        case = parse_case(document, today=dt.date.today())
        result, family, match = rank_case(case, self.reference.reducer, self.reference.tce,
                                          self.reference.kir, rules)
        doc = dict(result.document)
        doc["provenance"] = {**self.reference.provenance(),
                             "rule_set": f"{rules.name}@{rules.version}",
                             "case_date": case.as_of.isoformat(),
                             "source": f"registry patient {upn}",
                             "data_sha256": data_sha}
        family = {**family, "people": pedigree_people(case)}
        ranked = Ranked(doc, family, dict(match), data_sha, version, rules)
        with self._ranked_lock:
            self._ranked[key] = ranked
            while len(self._ranked) > 256:
                self._ranked.popitem(last=False)
        return ranked


def pedigree_people(case: Any) -> list[dict[str, Any]]:
    """The patient and relatives as the pedigree drawing wants them (ids only: the web app
    never draws names)."""
    return [{"id": p.id, "relationship": p.relationship.value if p.relationship else None,
             "sex": p.sex.value if p.sex else None, "age": p.age, "label": p.id,
             "through": p.through, "untyped": p.hla is None or not p.hla.loci}
            for p in (case.patient, *case.relatives)]


def _format_time(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        return str(value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return str(value)


#: Words of input names written as clinicians write them (``upper_gi_stage`` → "Upper GI
#: stage", ``anc_by_day_x10e9_per_l`` → "ANC by day ×10⁹/L").
_LABEL_WORDS = {"gi": "GI", "anc": "ANC", "cmv": "CMV", "hla": "HLA", "mrd": "MRD",
                "gvhd": "GVHD", "agvhd": "aGVHD", "cgvhd": "cGVHD", "dsa": "DSA", "mfi": "MFI",
                "abo": "ABO", "wt1": "WT1", "pcr": "PCR", "ldh": "LDH", "kps": "KPS",
                "ecog": "ECOG", "bmi": "BMI", "hct": "HCT", "ci": "CI", "x10e9": "×10⁹",
                "igg": "IgG", "iu": "IU", "ml": "mL", "dl": "dL", "kg": "kg", "cm": "cm", "nih": "NIH"}


def field_label(name: Any) -> str:
    """An input's name as a label: words apart, clinical abbreviations in capitals, the first
    letter capitalised, ``per l`` as ``/L``."""
    text = str(name or "")
    words = [_LABEL_WORDS.get(w.lower(), w) for w in text.split("_") if w]
    out = " ".join(words).replace(" per l", "/L").replace(" per ", "/")
    return out[:1].upper() + out[1:] if out and out[0].islower() else out


def _nl2br(value: Any) -> Markup:
    escaped = Markup.escape(str(value or ""))
    return Markup("<br>").join(escaped.split("\n"))
