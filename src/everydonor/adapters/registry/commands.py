"""``everydonor registry …``: the registry on the command line.

:func:`register` adds the ``registry`` command group to the main parser's subparsers; each
subcommand's handler returns the exit status: 0 done; 1 ``verify-audit`` found a broken chain;
2 bad input (an :class:`~everydonor.errors.InputError`, raised to the caller, which prints it);
75 the registry was busy (nothing written; run the same command again). :func:`main` runs the
group on its own (``python -m everydonor.adapters.registry.commands registry list``).

Every write takes ``--user`` (default: the OS login name) and ``--reason``; ``--db URL`` (or
``EVERYDONOR_DB``) selects the database, default the per-user SQLite file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from everydonor.errors import EverydonorError, InputError

EXIT_OK = 0
EXIT_BROKEN = 1
EXIT_BAD_INPUT = 2
#: sysexits EX_TEMPFAIL: a temporary failure, the same command may be run again.
EXIT_BUSY = 75

_REDUCERS: dict[tuple[str | None, str | None], Any] = {}


# -- shared --------------------------------------------------------------------------------------

def _registry(args: argparse.Namespace, *, reducer: bool = False) -> Any:
    from everydonor.adapters.registry.store import Registry

    red = _reducer(args) if reducer else None
    return Registry(args.db, reducer=red)


def _reducer(args: argparse.Namespace) -> Any:
    """The release's reducer (checks and reduces typings on ``add``), built once per process."""
    from everydonor.adapters.reference.imgt import load_reference, read_mac_file
    from everydonor.hla.reduction import Reducer

    imgt = getattr(args, "imgt", None) or os.environ.get("EVERYDONOR_IMGT_DIR") or None
    mac = getattr(args, "mac", None) or os.environ.get("EVERYDONOR_MAC_FILE") or None
    key = (imgt, mac)
    if key not in _REDUCERS:
        _REDUCERS[key] = Reducer(load_reference(imgt), read_mac_file(mac) if mac else None)
    return _REDUCERS[key]


def _emit(document: Any, fmt: str, text: Callable[[Any], str]) -> None:
    out = (json.dumps(document, indent=2, ensure_ascii=False, default=str) if fmt == "json"
           else text(document))
    print(out)


def _kv(document: Any) -> str:
    return "\n".join(f"{k}: {v}" for k, v in document.items())


def _date(text: str | None, field: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError("expected a date YYYY-MM-DD", field=field, value=text) from None


def _yes_no(text: str | None, field: str) -> bool | None:
    if text is None:
        return None
    if text.lower() in ("yes", "true", "y"):
        return True
    if text.lower() in ("no", "false", "n"):
        return False
    raise InputError("expected yes or no", field=field, value=text)


def _json_input(text: str, field: str) -> Any:
    """A JSON value given inline, or ``@FILE`` (JSON or YAML file)."""
    if text.startswith("@"):
        from everydonor.adapters.inputs.casefile import load_case_data

        try:
            return load_case_data(text[1:])
        except EverydonorError as exc:
            raise exc.with_context(field=field) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", field=field, value=text[:80]) from None


def _busy(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Print a busy registry's message (it says to retry) and exit 75."""
    def run(args: argparse.Namespace) -> int:
        from everydonor.adapters.registry.store import RegistryBusy

        try:
            return func(args)
        except RegistryBusy as exc:
            print(f"everydonor: {exc}", file=sys.stderr)
            return EXIT_BUSY
    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


# -- handlers ------------------------------------------------------------------------------------

@_busy
def cmd_init(args: argparse.Namespace) -> int:
    from everydonor.adapters.registry.config import create_key_file

    created_key = create_key_file()
    with _registry(args) as reg:
        result = reg.init(actor=args.user, reason=args.reason or "registry created")
    result["key_file_created"] = str(created_key) if created_key else None
    _emit(result, args.format, _kv)
    return EXIT_OK


@_busy
def cmd_upgrade(args: argparse.Namespace) -> int:
    with _registry(args) as reg:
        _emit(reg.upgrade(actor=args.user, reason=args.reason or "schema upgrade"), args.format,
              _kv)
    return EXIT_OK


@_busy
def cmd_add(args: argparse.Namespace) -> int:
    from everydonor.adapters.inputs.casefile import load_case_data

    document = load_case_data(args.case)
    with _registry(args, reducer=True) as reg:
        result = reg.add_case(document, actor=args.user, reason=args.reason, upn=args.upn,
                              centre=args.centre, national_id=args.national_id)
    _emit(result, args.format, lambda r: f"{r['upn']}: {r['status']} (version {r['version']}, "
          f"{r['persons']} persons, {r['typings']} typings)")
    return EXIT_OK


def _list_text(doc: Any) -> str:
    lines = [f"{'UPN':<20} {'centre':<10} {'diagnosis':<10} {'status':<8} persons typings "
             "events snapshots"]
    for p in doc["patients"]:
        lines.append(f"{p['upn']:<20} {p['centre']:<10} {p['diagnosis'] or '-':<10} "
                     f"{p['disease_status'] or '-':<8} {p['persons']:>7} {p['typings']:>7} "
                     f"{p['follow_up_events']:>6} {p['snapshots']:>9}"
                     + ("  (deleted)" if p["deleted"] else ""))
    lines.append(f"{len(doc['patients'])} of {doc['total']} patients (from {doc['offset']})")
    return "\n".join(lines)


@_busy
def cmd_list(args: argparse.Namespace) -> int:
    with _registry(args) as reg:
        _emit(reg.list_patients(limit=args.limit, offset=args.offset,
                                include_deleted=args.deleted), args.format, _list_text)
    return EXIT_OK


def _show_text(doc: Any) -> str:
    d = doc["disease"] or {}
    lines = [f"{doc['upn']} (centre {doc['centre']}, version {doc['version']}"
             + (", deleted" if doc["deleted"] else "") + ")",
             f"  disease: {d.get('diagnosis') or '-'}, status at HCT "
             f"{d.get('disease_status') or '-'}, risk {d.get('disease_risk') or '-'}"]
    if doc["consent"]:
        c = doc["consent"]
        lines.append(f"  consent: research {c['research']}, international transfer "
                     f"{c['international_transfer']}, {c['date'] or 'undated'}")
    for p in doc["persons"]:
        lines.append(f"  {p['id']:<8} {p['role']:<9} {p['relationship'] or '':<12} "
                     f"{p['sex'] or '-':<6} age {p['age'] if p['age'] is not None else '-'}")
        for t in p["typings"]:
            lines.append(f"      {t['glsc']}")
    for h in doc["hct"]:
        lines.append(f"  HCT {h['number']}: day 0 {h['day0']} ({h['type']}, donor "
                     f"{h['donor'] or '-'})")
    for e in doc["follow_up"]:
        lines.append(f"  {e['date'] or '-':<10} {e['event_type']:<12} ({e['source']})")
    for x in doc["snapshots"]:
        lines.append(f"  snapshot {x['id']} {x['kind']} {x['rule_set'] or ''} "
                     f"sha256 {x['sha256'][:16]}… {x['created_at']}")
    return "\n".join(lines)


@_busy
def cmd_show(args: argparse.Namespace) -> int:
    with _registry(args) as reg:
        _emit(reg.show(args.patient), args.format, _show_text)
    return EXIT_OK


def _profile_export_text(doc: Any) -> str:
    lines = [f"exported {doc['patients']} patient(s) ({doc['profile']}, destination "
             f"{doc['destination']}) to {doc['path']}"]
    for name, rows in doc["rows"].items():
        lines.append(f"  {name:<16} {rows:>7} rows  sha256 {doc['files'][name]}")
    if doc["excluded_total"]:
        why = ", ".join(f"{reason}: {n}" for reason, n in doc["excluded"].items())
        lines.append(f"left out (consent): {doc['excluded_total']} patient(s) ({why})")
    else:
        lines.append("left out (consent): none")
    lines.append(f"manifest sha256 {doc['manifest_sha256']}; audit entry #{doc['audit_seq']}")
    return "\n".join(lines)


def _export_profile(args: argparse.Namespace) -> int:
    """``registry export --profile …``: a cohort under an export profile (``exports.py``)."""
    from everydonor.adapters.registry.exports import export
    from everydonor.adapters.registry.outcomes_data import parse_cohort

    if args.patient is not None:
        raise InputError("--profile exports a cohort, not one patient: leave out PATIENT (or "
                         "choose patients with --cohort)", field="PATIENT", value=args.patient)
    if not args.output:
        raise InputError("--profile needs -o PATH (a new directory for the export)",
                         field="-o")
    cohort = parse_cohort(args.cohort)
    with _registry(args) as reg:
        result = export(reg, args.profile, destination=args.destination or "local",
                        cohort=cohort, output=args.output, actor=args.user,
                        reason=args.reason or f"{args.profile} export")
    _emit(result.document(), "json" if args.format == "json" else "text",
          _profile_export_text)
    return EXIT_OK


@_busy
def cmd_export(args: argparse.Namespace) -> int:
    from everydonor.adapters.registry.casemap import case_yaml

    if args.profile is not None:
        return _export_profile(args)
    if args.patient is None:
        raise InputError("give PATIENT (one patient's case file) or --profile "
                         "identified|limited|deidentified (a cohort)", field="PATIENT")
    if args.destination is not None or args.cohort is not None:
        raise InputError("--destination and --cohort go with --profile (a cohort export)",
                         field="--destination" if args.destination else "--cohort")
    with _registry(args) as reg:
        document = reg.export_case(args.patient, actor=args.user,
                                   reason=args.reason or "export")
    if args.format == "json":
        text = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    else:
        text = case_yaml(document)
    if args.output:
        target = Path(args.output)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise InputError(f"cannot write {args.output!r}: {exc.strerror}", field="-o",
                             value=args.output) from None
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return EXIT_OK


@_busy
def cmd_import_pooled(args: argparse.Namespace) -> int:
    from everydonor.adapters.registry.pooled import import_pooled

    with _registry(args) as reg:
        result = import_pooled(reg, args.path, actor=args.user,
                               reason=args.reason or "pooled cohort import")
    _emit(result, args.format, lambda r: (
        f"imported {r['patients']} patients, {r['transplants']} transplants, {r['events']} "
        f"follow-up events from centre {', '.join(r['centres'])} (export of "
        f"{r['source_created']}; manifest sha256 {r['manifest_sha256']}); import id "
        f"{r['import_id']}"))
    return EXIT_OK


def _history_text(doc: Any) -> str:
    lines = [f"{doc['upn']}: version {doc['version']}" + (" (deleted)" if doc["deleted"] else "")]
    for v in doc["versions"]:
        what = ", ".join(f"{c['field']} {c['old']!r} → {c['new']!r}" for c in v["changes"])
        lines.append(f"  {v['at'][:19]} {v['by']:<10} {v['operation']:<6} {v['table']:<15} "
                     f"{v['label'] or '':<14} v{v['version']} {v['reason']!r}"
                     + (f": {what}" if what else ""))
    lines.append("audit:")
    lines.extend(f"  #{e['seq']} {e['at'][:19]} {e['actor']} {e['action']} {e['reason']!r}"
                 for e in doc["audit"])
    return "\n".join(lines)


@_busy
def cmd_history(args: argparse.Namespace) -> int:
    with _registry(args) as reg:
        _emit(reg.history(args.patient), args.format, _history_text)
    return EXIT_OK


@_busy
def cmd_verify_audit(args: argparse.Namespace) -> int:
    with _registry(args) as reg:
        report = reg.verify_audit()
    report["database"] = reg.where
    _emit(report, args.format, lambda r: (
        f"audit chain intact: {r['entries']} entries" if r["intact"] else
        f"audit chain BROKEN at entry {r['first_broken']}: {r['problem']}"))
    if not report["intact"]:
        print(f"everydonor: audit chain broken at entry {report['first_broken']}: "
              f"{report['problem']}", file=sys.stderr)
        return EXIT_BROKEN
    return EXIT_OK


@_busy
def cmd_backup(args: argparse.Namespace) -> int:
    from everydonor.adapters.registry.backup import backup

    with _registry(args) as reg:
        _emit(backup(reg, Path(args.file), actor=args.user,
                     reason=args.reason or "backup"), args.format, _kv)
    return EXIT_OK


@_busy
def cmd_restore(args: argparse.Namespace) -> int:
    from everydonor.adapters.registry.backup import restore

    with _registry(args) as reg:
        _emit(restore(reg, Path(args.file), actor=args.user,
                      reason=args.reason or "restore"), args.format, _kv)
    return EXIT_OK


@_busy
def cmd_delete(args: argparse.Namespace) -> int:
    with _registry(args) as reg:
        _emit(reg.delete_patient(args.patient, actor=args.user, reason=args.reason),
              args.format, _kv)
    return EXIT_OK


@_busy
def cmd_consent(args: argparse.Namespace) -> int:
    with _registry(args) as reg:
        _emit(reg.set_consent(args.patient, research=_yes_no(args.research, "--research"),
                              international_transfer=_yes_no(args.international_transfer,
                                                             "--international-transfer"),
                              consent_date=_date(args.date, "--date"), scope=args.scope,
                              actor=args.user, reason=args.reason or "consent recorded"),
              args.format, _kv)
    return EXIT_OK


@_busy
def cmd_hct(args: argparse.Namespace) -> int:
    day0 = _date(args.day0, "--day0")
    assert day0 is not None
    with _registry(args) as reg:
        _emit(reg.add_hct(args.patient, day0=day0, hct_type=args.type, donor=args.donor,
                          graft=args.graft, actor=args.user,
                          reason=args.reason or "transplant recorded"), args.format, _kv)
    return EXIT_OK


@_busy
def cmd_event(args: argparse.Namespace) -> int:
    payload = _json_input(args.payload, "--payload")
    with _registry(args) as reg:
        _emit(reg.record_event(args.patient, args.type, args.date, payload, actor=args.user,
                               reason=args.reason or "follow-up recorded",
                               hct_number=args.hct), args.format, _kv)
    return EXIT_OK


@_busy
def cmd_score(args: argparse.Namespace) -> int:
    inputs = _json_input(args.input, "--input")
    with _registry(args) as reg:
        _emit(reg.add_score(args.patient, args.name, inputs, args.date, actor=args.user,
                            reason=args.reason or "score computed", hct_number=args.hct),
              args.format, _kv)
    return EXIT_OK


@_busy
def cmd_rank(args: argparse.Namespace) -> int:
    """Rank the stored case (exported from the rows) and keep family, match and ranking as
    snapshots."""
    from everydonor.adapters.reference.imgt import load_kir_table, open_release, read_tce
    from everydonor.case import parse_case
    from everydonor.selection.catalogue import get_rule_set
    from everydonor.selection.ranking import rank_case

    rules = get_rule_set(args.rules)
    reducer = _reducer(args)
    imgt = getattr(args, "imgt", None) or os.environ.get("EVERYDONOR_IMGT_DIR") or None
    with _registry(args, reducer=True) as reg:
        document = reg.export_case(args.patient, actor=args.user, reason=args.reason or "rank")
        case = parse_case(document, today=dt.date.today())
        result, family, match = rank_case(case, reducer, read_tce(open_release(imgt)),
                                          load_kir_table(imgt), rules)
        release = reducer.release
        reason = args.reason or f"ranked under {rules.name}@{rules.version}"
        snaps = [reg.add_snapshot(args.patient, kind, answer, actor=args.user, reason=reason,
                                  rule_set=rules.name, rule_set_version=rules.version,
                                  release=release)
                 for kind, answer in (("family", family), ("match", match),
                                      ("ranking", dict(result.document)))]
    out = {"upn": args.patient, "snapshots": snaps, "ranking": dict(result.document)}
    _emit(out, args.format, lambda d: "\n".join(
        f"{x['kind']:<8} {x['id']} sha256 {x['sha256']}" for x in d["snapshots"]))
    return EXIT_OK


@_busy
def cmd_snapshot(args: argparse.Namespace) -> int:
    with _registry(args) as reg:
        _emit(reg.snapshot(args.id), args.format, lambda d: json.dumps(
            d["answer"], indent=2, ensure_ascii=False))
    return EXIT_OK


# -- parser --------------------------------------------------------------------------------------

def _common(p: argparse.ArgumentParser, *, write: bool) -> None:
    from everydonor.adapters.registry.store import os_user

    p.add_argument("--db", metavar="URL", help="registry database: sqlite:///FILE, a file path, "
                   "or postgresql://USER@HOST:PORT/DB (default: EVERYDONOR_DB, else the "
                   "per-user SQLite file)")
    p.add_argument("--format", choices=["json", "text"], default="json")
    if write:
        p.add_argument("--user", default=os_user(), metavar="NAME",
                       help="who makes the change (default: the OS login name)")
        p.add_argument("--reason", metavar="TEXT", help="why (recorded with the change)")


def register(subparsers: Any) -> None:
    """Add ``registry`` and its subcommands to the main parser's subparsers."""
    reg = subparsers.add_parser("registry", help="the patient registry (SQLite or PostgreSQL): "
                                "cases, follow-up, snapshots, history and audit trail")
    sub = reg.add_subparsers(dest="registry_command", required=True, parser_class=type(reg))

    def command(name: str, func: Callable[[argparse.Namespace], int], help_: str, *,
                write: bool) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_)
        _common(p, write=write)
        p.set_defaults(func=func)
        return p

    command("init", cmd_init, "create the registry (and the pseudonym key file)", write=True)
    command("upgrade", cmd_upgrade, "apply the schema migrations shipped with this version",
            write=True)
    p = command("add", cmd_add, "store a case file (one transaction; a refused case writes "
                "nothing)", write=True)
    p.add_argument("case", metavar="CASE", help="case file (JSON or YAML, everydonor.case/1)")
    p.add_argument("--upn", help="registry id (default: the case id, else the patient id)")
    p.add_argument("--centre", default="local", help="centre code (default: local)")
    p.add_argument("--national-id", help="the patient's national id (identity table only)")
    p = command("list", cmd_list, "patients by UPN, with counts", write=False)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--deleted", action="store_true", help="include soft-deleted patients")
    p = command("show", cmd_show, "one patient (no identifying data)", write=False)
    p.add_argument("patient", metavar="PATIENT")
    p = command("export", cmd_export, "the patient's case file, or with --profile a cohort "
                "under an export profile (consent-gated; audited)", write=True)
    p.add_argument("patient", metavar="PATIENT", nargs="?",
                   help="one patient's case file (leave out with --profile)")
    p.set_defaults(format="case")
    for action in p._actions:
        if action.dest == "format":
            action.choices = ["case", "json"]
            action.help = ("case: YAML case file (default); json: the same case as JSON (with "
                           "--profile: the summary as JSON, else as text)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (whole or not at all); "
                   "with --profile a new directory")
    p.add_argument("--profile", choices=["identified", "limited", "deidentified"],
                   help="export the cohort: identified (inside the centre only), limited "
                   "(dates kept, direct identifiers and free text removed) or deidentified "
                   "(Safe Harbor: dates shifted per patient, HMAC ids, ages over 89 as 90+)")
    p.add_argument("--destination", choices=["local", "international"],
                   help="with --profile: international leaves out patients without consent "
                   "to international transfer (default: local)")
    p.add_argument("--cohort", metavar="FILTER", help="with --profile: the outcomes' cohort "
                   "filter, e.g. centre=BJ,hct_from=2015-01-01,donor_type=haploidentical "
                   "related (default: every live patient)")
    p = command("import-pooled", cmd_import_pooled, "import another centre's de-identified "
                "export into the pooled cohort (hashes checked; a re-import refused)",
                write=True)
    p.add_argument("path", metavar="PATH", help="the export directory (with manifest.json)")
    p = command("history", cmd_history, "every version of the patient's rows, and its audit "
                "entries", write=False)
    p.add_argument("patient", metavar="PATIENT")
    command("verify-audit", cmd_verify_audit, "recompute the audit hash chain (exit 1 when "
            "broken, naming the first broken entry)", write=False)
    p = command("backup", cmd_backup, "online backup to FILE (SQLite backup API; pg_dump)",
                write=True)
    p.add_argument("file", metavar="FILE")
    p = command("restore", cmd_restore, "restore FILE into an empty registry database",
                write=True)
    p.add_argument("file", metavar="FILE")
    p = command("delete", cmd_delete, "soft-delete a patient (kept with its history)",
                write=True)
    p.add_argument("patient", metavar="PATIENT")
    p = command("consent", cmd_consent, "record the patient's consent", write=True)
    p.add_argument("patient", metavar="PATIENT")
    p.add_argument("--research", choices=["yes", "no"])
    p.add_argument("--international-transfer", choices=["yes", "no"])
    p.add_argument("--date", metavar="YYYY-MM-DD")
    p.add_argument("--scope", metavar="TEXT")
    p = command("hct", cmd_hct, "record a transplant (day 0, allo/auto, donor)", write=True)
    p.add_argument("patient", metavar="PATIENT")
    p.add_argument("--day0", required=True, metavar="YYYY-MM-DD")
    p.add_argument("--type", default="allo", choices=["allo", "auto"])
    p.add_argument("--donor", metavar="ID", help="the donor's id in the case")
    p.add_argument("--graft", metavar="TEXT")
    p = command("event", cmd_event, "record a follow-up event (payload checked per type)",
                write=True)
    p.add_argument("patient", metavar="PATIENT")
    p.add_argument("type", metavar="TYPE", help="engraftment, agvhd, cgvhd, cmv, ebv, "
                   "chimerism, mrd, relapse, dli, intervention, death, last_contact")
    p.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    p.add_argument("--payload", default="{}", metavar="JSON|@FILE")
    p.add_argument("--hct", type=int, metavar="N", help="the HCT it follows (number)")
    p = command("score", cmd_score, "compute a score (everydonor.scores) and store it with "
                "its inputs", write=True)
    p.add_argument("patient", metavar="PATIENT")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--input", required=True, metavar="JSON|@FILE")
    p.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    p.add_argument("--hct", type=int, metavar="N")
    p = command("rank", cmd_rank, "rank the stored case and keep family, match and ranking "
                "snapshots", write=True)
    p.add_argument("patient", metavar="PATIENT")
    p.add_argument("--rules", default="beijing", metavar="NAME")
    p = command("snapshot", cmd_snapshot, "a stored snapshot, its SHA-256 checked", write=False)
    p.add_argument("id", metavar="ID")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        print(f"everydonor: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="everydonor")
    parser.add_argument("--imgt", metavar="DIR")
    parser.add_argument("--mac", metavar="FILE")
    register(parser.add_subparsers(dest="command", required=True, parser_class=_Parser))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``everydonor registry …`` on its own; errors → stderr and exit 2, as the main CLI."""
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except EverydonorError as exc:
        print(f"everydonor: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
