"""``everydonor donors``: the donor store and unrelated-donor search on the command line.

    everydonor donors import FILE --store DIR [--format csv|wmda|case] [--strict]
    everydonor donors search --store DIR --patient CASE|GL [--mismatches 2]
                             [--frequencies NAME|FILE] [--format json|text|case|csv|idgl]
                             [--limit N]
                             [--dask ADDRESS|local] [--device cpu|gpu] [-o FILE]
    everydonor donors frequencies add FILE --store DIR --name NAME [--population P]
    everydonor donors frequencies list --store DIR
    everydonor donors info --store DIR

Exit status: 0 done; 1 an import finished but rejected some rows (each listed with its reason);
2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from everydonor.adapters.cli.common import NOTICE, Context, mac_provenance, write_output
from everydonor.errors import InputError

EXIT_REJECTED_ROWS = 1


def register(sub: Any) -> None:
    """Add the ``donors`` command to the main parser's subcommands."""
    donors = sub.add_parser("donors", help="unrelated donors: import a registry into a donor "
                            "store, install frequency sets, search with match probabilities")
    dsub = donors.add_subparsers(dest="donors_action", required=True,
                                 parser_class=type(donors))

    imp = dsub.add_parser("import", help="import donors (CSV, WMDA ID%%GL, a case file's "
                          "unrelated[]) into a store; rejected rows are listed with reasons")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--store", required=True, metavar="DIR",
                     help="the donor store folder (created if it does not exist)")
    imp.add_argument("--format", choices=["csv", "wmda", "case"], default=None,
                     help="file format (default: from the file)")
    imp.add_argument("--strict", action="store_true",
                     help="import nothing if any row is rejected (exit 2)")
    imp.add_argument("--partition-rows", type=int, default=1_000_000, metavar="N",
                     help="donors per Parquet partition (default 1,000,000)")
    imp.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar on stderr (default: when stderr is a terminal)")
    imp.add_argument("--report", choices=["json", "text"], default="text",
                     help="the import report on stdout (default text)")
    imp.set_defaults(func=cmd_import)

    srch = dsub.add_parser("search", help="search a store for a patient: mismatch scan, match "
                           "probabilities for every candidate, ranked list")
    srch.add_argument("--store", required=True, metavar="DIR")
    srch.add_argument("--patient", required=True, metavar="CASE|GL",
                      help="a case file (its patient) or a GL string (or a WMDA ID%%GL line)")
    srch.add_argument("--mismatches", type=int, default=2, choices=[0, 1, 2],
                      help="allowed mismatches over A, C, B, DRB1, DQB1 (default 2)")
    srch.add_argument("--frequencies", metavar="NAME|FILE",
                      help="a frequency set installed in the store, or a file "
                      "(A~C~B~DRB1~DQB1;freq); default: the store's only set, if it has one")
    srch.add_argument("--format", choices=["json", "text", "case", "csv", "idgl"],
                      default="json",
                      help="json (the contract), text (a table), case: the listed donors as "
                      "a case file's unrelated[] entries, csv: one row per donor (provenance "
                      "in '#' rows first), idgl: WMDA ID%%GL lines (provenance beside -o FILE "
                      "as FILE.provenance.json, else on stderr)")
    srch.add_argument("--limit", type=int, metavar="N", help="show only the first N donors "
                      "(the counts still give every listed donor); text default 50")
    srch.add_argument("--dask", metavar="ADDRESS|local",
                      help="run one task per partition on a Dask cluster (a scheduler address, "
                      "or 'local' for a cluster on this machine)")
    srch.add_argument("--device", choices=["cpu", "gpu"], default="cpu",
                      help="where the probability kernel runs (gpu needs CuPy and a CUDA device)")
    srch.add_argument("-o", "--output", metavar="FILE", help="write to FILE (whole or nothing)")
    srch.set_defaults(func=cmd_search)

    freq = dsub.add_parser("frequencies", help="install or list haplotype-frequency sets")
    fsub = freq.add_subparsers(dest="freq_action", required=True, parser_class=type(donors))
    add = fsub.add_parser("add", help="install a frequency set into the store (verbatim copy)")
    add.add_argument("file", metavar="FILE")
    add.add_argument("--store", required=True, metavar="DIR")
    add.add_argument("--name", required=True)
    add.add_argument("--population")
    add.add_argument("--registry")
    add.set_defaults(func=cmd_frequencies)
    lst = fsub.add_parser("list", help="list the store's frequency sets")
    lst.add_argument("--store", required=True, metavar="DIR")
    lst.set_defaults(func=cmd_frequencies)

    info = dsub.add_parser("info", help="what a store holds: donors, partitions, typings, "
                           "imports, frequency sets")
    info.add_argument("--store", required=True, metavar="DIR")
    info.set_defaults(func=cmd_info)


def _progress(enabled: bool | None) -> Any:
    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=0, unit="B", unit_scale=True, desc="import", file=sys.stderr)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar


def cmd_import(args: argparse.Namespace) -> int:
    from everydonor.adapters.donorstore import DonorStore

    ctx = Context(args)
    if args.partition_rows < 1000:
        raise InputError("--partition-rows must be at least 1000", field="--partition-rows",
                         value=str(args.partition_rows))
    path = Path(args.store)
    created = not (path / "store.json").is_file()
    store = DonorStore.open(path, create=True, release=ctx.ref.release,
                            mac_list=ctx.macs.describe() if ctx.macs else None)
    update, bar = _progress(args.progress)
    try:
        report = store.import_file(args.file, ctx.reducer, fmt=args.format, strict=args.strict,
                                   partition_rows=args.partition_rows, progress=update,
                                   mac_list=ctx.macs.describe() if ctx.macs else None)
    except BaseException:
        if created and not store.manifest.get("partitions"):
            import shutil

            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    doc = report.to_dict()
    if args.report == "json":
        write_output(json.dumps(doc, indent=2, ensure_ascii=False), None)
    else:
        lines = [f"everydonor donors import: {report.file} ({report.format}, sha256 "
                 f"{report.sha256[:12]})"]
        if report.already_imported:
            lines.append("  already imported: nothing changed")
        else:
            lines.append(f"  records {report.records:,}: imported {report.imported:,}, "
                         f"updated {report.updated:,}, unchanged {report.unchanged:,}, "
                         f"rejected {len(report.rejected):,}")
        lines.extend(f"  warning: {w}" for w in report.warnings)
        for r in report.rejected[:50]:
            lines.append(f"  rejected record {r.record}: donor {r.donor_id!r}, {r.field} "
                         f"{r.value!r}: {r.reason}")
        if len(report.rejected) > 50:
            lines.append(f"  … {len(report.rejected) - 50:,} more in "
                         f"{store.path / 'imports' / (report.sha256 + '.json')}")
        lines.append(f"  store {store.path}: {report.store_donors:,} donors")
        write_output("\n".join(lines), None)
    return EXIT_REJECTED_ROWS if report.rejected else 0



def _patient(args: argparse.Namespace, ctx: Any) -> Any:
    from everydonor.adapters.search.runner import patient_from_person, patient_from_text

    text = args.patient
    p = Path(text).expanduser()
    if p.suffix.lower() in (".yaml", ".yml", ".json") or (p.is_file() and "*" not in text):
        from everydonor.adapters.inputs.casefile import read_case
        from everydonor.case import check_typings

        case = read_case(p)
        check_typings(case, ctx.reducer.alleles_of)  # an HLA error names whose typing it was
        return patient_from_person(case.patient, ctx.reducer)
    return patient_from_text(text, ctx.reducer)


def cmd_search(args: argparse.Namespace) -> int:
    from everydonor.adapters.donorstore import DonorStore
    from everydonor.adapters.reference.imgt import open_release, read_tce
    from everydonor.adapters.search.frequencies import frequency_set_of
    from everydonor.adapters.search.runner import dask_runner, local_runner, run_search

    ctx = Context(args)
    store = DonorStore.open(args.store)
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1", field="--limit", value=str(args.limit))
    patient = _patient(args, ctx)
    fs = frequency_set_of(store, args.frequencies, ctx.reducer)
    tce = read_tce(open_release(ctx.imgt_dir))
    runner = None
    cluster: Any = None
    client: Any = None
    scratch: str | None = None
    if args.device == "gpu":
        from everydonor.adapters.search.gpu import array_module

        runner = local_runner(array_module())
    if args.dask:
        import importlib

        distributed: Any = importlib.import_module("distributed")
        if args.dask == "local":
            import tempfile

            scratch = tempfile.mkdtemp(prefix="everydonor-dask-")  # removed when done
            cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                               processes=True, dashboard_address=None,
                                               local_directory=scratch)
            client = distributed.Client(cluster)
        else:
            client = distributed.Client(args.dask)
        runner = dask_runner(client)
    provenance = {**ctx.provenance(), "store_mac_list": store.manifest.get("mac_list"),
                  "device": args.device,
                  "executor": f"dask {args.dask}" if args.dask else "local"}
    limit = args.limit if args.limit is not None else (50 if args.format == "text" else None)
    try:
        run = run_search(store, patient, fs, args.mismatches, ctx.reducer, tce=tce, runner=runner,
                         provenance=provenance, limit=limit)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        if scratch is not None:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
    _mac_list_warnings(run.document, ctx, store)
    if args.format == "json":
        write_output(json.dumps(run.document, indent=2, ensure_ascii=False), args.output)
    elif args.format == "csv":
        from everydonor.adapters.search.exchange import search_csv

        write_output(search_csv(run.document), args.output)
    elif args.format == "idgl":
        _write_idgl(run.document, args.output)
    elif args.format == "case":
        from everydonor.adapters.search.runner import case_entries

        entries = {"unrelated": case_entries(run.hits, fs), "notes": [
            f"from everydonor donors search of {store.path} for patient {patient.id}",
            NOTICE]}
        write_output(json.dumps(entries, indent=2, ensure_ascii=False), args.output)
    else:
        write_output(render_search_text(run.document, NOTICE), args.output)
    return 0


def _mac_list_warnings(doc: dict[str, Any], ctx: Context, store: Any) -> None:
    """The answer's warnings: MACs of this run naming alleles absent from the release, and a
    store whose typings were expanded with another MAC list than the patient's."""
    doc["provenance"]["mac_list"] = mac_provenance(ctx.macs)  # with the gaps met by this run
    mine = doc["provenance"].get("mac_list") or {}
    doc["warnings"].extend(mine.get("warnings", []))
    theirs = store.manifest.get("mac_list")
    theirs_sha = theirs.get("sha256") if isinstance(theirs, dict) else None
    if theirs_sha and mine.get("sha256") and theirs_sha != mine["sha256"]:
        doc["warnings"].append(
            f"the store's MAC codes were expanded with MAC list {theirs.get('file')} dated "
            f"{theirs.get('date')} (sha256 {theirs_sha[:12]}), the patient's with "
            f"{mine.get('file')} dated {mine.get('date')} (sha256 {mine['sha256'][:12]})")
    elif theirs and ctx.macs is None:
        doc["warnings"].append("the store's MAC codes were expanded with a MAC list "
                               "(store_mac_list) but this run loaded none (--mac FILE)")


def _write_idgl(doc: dict[str, Any], output: str | None) -> None:
    """WMDA ID%GL lines; the provenance beside them (FILE.provenance.json) or on stderr."""
    import hashlib

    from everydonor.adapters.search.exchange import idgl_provenance, search_idgl

    text = search_idgl(doc["donors"])  # refuses an id the format cannot carry: nothing written
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if output is None or output == "-":
        sidecar = idgl_provenance(doc, None, sha)
        write_output(text.encode("utf-8"), output)
        print("everydonor: provenance: " + json.dumps(
            {k: sidecar[k] for k in ("sha256", "release", "frequency_set", "provenance",
                                     "warnings", "notice")}, ensure_ascii=False),
              file=sys.stderr)
        return
    sidecar = idgl_provenance(doc, Path(output).name, sha)
    write_output(json.dumps(sidecar, indent=2, ensure_ascii=False), output + ".provenance.json")
    write_output(text.encode("utf-8"), output)


def _pct(x: Any) -> str:
    return "  —  " if x is None else f"{100 * x:5.1f}"


def render_search_text(doc: dict[str, Any], notice: str) -> str:
    c = doc["counts"]
    imp = doc.get("patient_imputation") or {}
    lines = [
        f"# Unrelated donor search — patient {doc['patient']} — up to "
        f"{doc['mismatches_allowed']} mismatches over A, C, B, DRB1, DQB1",
        f"# frequency set: {doc['frequency_set'] or 'none (no probabilities)'}; IPD-IMGT/HLA "
        f"{doc['release']}; {doc['provenance'].get('software', '')}",
        f"# patient {doc['patient_typing']}: {imp.get('genotypes', '—')} genotypes"
        + (" (unrepresented)" if imp.get("unrepresented") else ""),
        f"# store {c['store_donors']:,} donors; {c['candidates']:,} pass the scan; "
        f"{c['listed']:,} listed ({c['unrepresented']:,} unrepresented); "
        f"{c['excluded_zero_probability']:,} with P(≤{doc['mismatches_allowed']}) = 0 left out",
        "",
        f"{'rank':>4}  {'donor':<14} {'reg':<6} {'sex':<6} {'age':>4} {'cmv':<4} "
        f"{'P10/10':>6} {'P9/10':>6} {'P8/10':>6}  A C B R Q  {'TCE':<18}",
    ]
    code = {"definite": "=", "potential": "?", "mismatch": "x", "typing_match": "~"}
    for d in doc["donors"]:
        cats = " ".join(code.get(v.get("category"), "?") for v in d["loci"].values())
        age = "" if d.get("age") is None else f"{d['age']:.0f}"
        cmv = {"positive": "+", "negative": "-"}.get(d.get("cmv_igg") or "", "?")
        lines.append(
            f"{d['rank']:>4}  {d['id']:<14} {(d.get('registry') or ''):<6} "
            f"{(d.get('sex') or '?'):<6} {age:>4} {cmv:<4} {_pct(d['p_10_of_10']):>6} "
            f"{_pct(d['p_9_of_10']):>6} {_pct(d['p_8_of_10']):>6}  {cats}  {d['dpb1_tce']:<18}"
            + ("  unrepresented" if d["unrepresented"] else ""))
    if c["shown"] < c["listed"]:
        lines.append(f"… {c['listed'] - c['shown']:,} more listed donors (--limit, or JSON)")
    lines += ["", "Per locus: = definite match, ? potential, x mismatch (P(match) = 0), "
              "~ typings match (no probability).", *[f"warning: {w}" for w in doc["warnings"]],
              notice]
    return "\n".join(lines)


def cmd_frequencies(args: argparse.Namespace) -> int:
    from everydonor.adapters.donorstore import DonorStore

    store = DonorStore.open(args.store)
    if args.freq_action == "add":
        ctx = Context(args)
        fs = store.add_frequency_set(Path(args.file), args.name, ctx.reducer,
                                     population=args.population, registry=args.registry)
        print(json.dumps({"installed": fs.describe(), "warnings": list(fs.warnings)},
                         indent=2, ensure_ascii=False))
        return 0
    print(json.dumps(store.manifest.get("frequency_sets", {}), indent=2, ensure_ascii=False))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from everydonor.adapters.donorstore import DonorStore

    print(json.dumps(DonorStore.open(args.store).info(), indent=2, ensure_ascii=False))
    return 0
