"""``everydonor hla check|reduce|expand``: HLA typings against the release.

A typing may be a GL String Code (``hla#3.58.0#HLA-A*01:01+HLA-A*02:01``). One reported under
another release is checked under that release when it is installed
(``EVERYDONOR_IMGT_RELEASES``, see :mod:`everydonor.adapters.reference.releases`); otherwise it
is read under the loaded release and its answer carries a warning naming both releases. Only a
malformed code is refused (exit 2). ``reduce --format glsc`` writes one GL String Code per
typing, stamped with the release the reduction was computed under.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from everydonor.adapters.cli.common import (
    EXIT_BAD_INPUT,
    NOTICE,
    Context,
)
from everydonor.adapters.reference.releases import Releases
from everydonor.errors import EverydonorError, InputError
from everydonor.hla.check import check_typing, code_of, expand_typing, reduce_typing
from everydonor.hla.glsc import format_glsc
from everydonor.hla.reference import Resolution


def _example_path() -> Path:
    return Path(str(resources.files("everydonor") / "data" / "examples" / "typings.txt"))


def _read_typings_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read typings file {str(path)!r}: {exc.strerror}",
                         value=str(path), field="--file") from exc
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def _typings(args: argparse.Namespace) -> list[str]:
    items: list[str] = list(args.typings or [])
    if args.file:
        items += _read_typings_file(Path(args.file))
    if args.example:
        items += _read_typings_file(_example_path())
    if not items:
        raise InputError("no typings given: pass TYPING arguments, --file FILE or --example",
                         field="TYPING")
    return items


def _reduce_one(releases: Releases, text: str, to: Resolution) -> dict[str, Any]:
    code = code_of(text)
    _, reducer = releases.for_version(code.release if code else None)
    return reduce_typing(text, reducer, to)


def _check_one(releases: Releases, text: str) -> dict[str, Any]:
    code = code_of(text)
    ref, _ = releases.for_version(code.release if code else None)
    return check_typing(text, ref, releases.macs)


def _expand_one(releases: Releases, text: str) -> dict[str, Any]:
    code = code_of(text)
    ref, _ = releases.for_version(code.release if code else None)
    return expand_typing(text, ref, releases.macs)


def _run_each(ctx: Context, items: Sequence[str],
              fn: Callable[[Context, str], dict[str, Any]]) -> tuple[list[dict[str, Any]],
                                                                     list[EverydonorError]]:
    results, errors = [], []
    for item in items:
        try:
            results.append(fn(ctx, item))
        except EverydonorError as exc:
            if exc.value is None:
                exc.value = item
            if exc.release is None and ctx._ref is not None:
                exc.release = ctx._ref.release
            errors.append(exc)
            results.append({"input": item, "valid": False, "error": exc.to_dict()})
    return results, errors


def cmd_hla(args: argparse.Namespace) -> int:
    ctx = Context(args)
    if args.format == "glsc" and args.action != "reduce":
        raise InputError(f"--format glsc writes reductions: use it with reduce, not "
                         f"{args.action}", field="--format", value="glsc")
    items = _typings(args)
    releases = Releases(ctx.ref, ctx.reducer, ctx.macs)
    if args.action == "reduce":
        to = Resolution(args.to)
        results, errors = _run_each(ctx, items, lambda c, t: _reduce_one(releases, t, to))
    elif args.action == "check":
        results, errors = _run_each(ctx, items, lambda c, t: _check_one(releases, t))
    else:
        results, errors = _run_each(ctx, items, lambda c, t: _expand_one(releases, t))

    if errors and args.action != "check":
        for exc in errors:
            print(f"everydonor: {exc}", file=sys.stderr)
        print(f"everydonor: {len(errors)} of {len(items)} typings refused; nothing written",
              file=sys.stderr)
        return EXIT_BAD_INPUT

    document: dict[str, Any] = {"release": ctx.ref.release}
    if args.action == "reduce":
        document["to"] = args.to
    document["results"] = results
    warnings = [w for r in results for w in r.get("warnings", [])]
    if warnings:
        document["warnings"] = warnings
    document["provenance"] = ctx.provenance()
    if args.format == "json":
        text = json.dumps(document, indent=2, ensure_ascii=False)
    elif args.format == "glsc":
        text = _render_glsc(results, document)
    else:
        text = _render_text(args.action, results, document)
    print(text)
    for warning in warnings if args.format != "json" else []:
        print(f"everydonor: warning: {warning}", file=sys.stderr)
    if errors:
        for exc in errors:
            print(f"everydonor: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _render_glsc(results: list[dict[str, Any]], document: dict[str, Any]) -> str:
    """One GL String Code per typing, in input order, stamped with the release each reduction was
    computed under; ``#`` lines say what the answer is and why a typing has no code."""
    lines = [f"# {document['provenance']['software']}, IPD-IMGT/HLA {document['release']}, "
             f"reduce --to {document['to']} — {NOTICE}"]
    lines += [f"# warning: {w}" for w in document.get("warnings", [])]
    for r in results:
        if r.get("output"):
            lines.append(format_glsc(r["output"], r.get("release") or document["release"]))
        else:
            lines.append(f"# {r['input']}: no reduction ({r.get('note', '')})")
    return "\n".join(lines)


def _render_text(action: str, results: list[dict[str, Any]], document: dict[str, Any]) -> str:
    lines = [f"# IPD-IMGT/HLA {document['release']} — {NOTICE}"]
    lines += [f"# warning: {w}" for w in document.get("warnings", [])]
    width = max((len(r["input"]) for r in results), default=10)
    for r in results:
        if "error" in r:
            lines.append(f"{r['input']:<{width}}  INVALID  {r['error']['message']}")
        elif action == "reduce":
            out = r.get("output") or f"(none: {r.get('note', '')})"
            note = f"   [{r['note']}]" if r.get("output") and r.get("note") else ""
            lines.append(f"{r['input']:<{width}}  →  {out}{note}")
        elif action == "check" and r.get("valid") is None:
            lines.append(f"{r['input']:<{width}}  kept, not checked  {r.get('note', '')}")
        elif action == "check":
            amb = "ambiguous" if r.get("ambiguous") else "unambiguous"
            lines.append(f"{r['input']:<{width}}  valid  {r.get('kind')}  {amb}")
        else:
            out = r.get("output") or "/".join(r.get("alleles", []))
            lines.append(f"{r['input']:<{width}}  =  {out}")
    return "\n".join(lines)


def register(sub: Any) -> None:
    """Add this module's commands to the main parser."""
    hla = sub.add_parser("hla", help="check, reduce or expand HLA typings")
    hla.add_argument("action", choices=["check", "reduce", "expand"])
    hla.add_argument("typings", nargs="*", metavar="TYPING",
                     help="allele, allele string, MAC, XX code, G/P group, serology, GL string "
                     "or GL String Code (hla#3.58.0#HLA-A*01:01+HLA-A*02:01)")
    hla.add_argument("--to", choices=[r.value for r in Resolution], default=Resolution.LGX.value,
                     help="target of reduce (default lgx)")
    hla.add_argument("--file", metavar="FILE", help="read typings from FILE, one per line")
    hla.add_argument("--example", action="store_true", help="use the bundled example typings")
    hla.add_argument("--format", choices=["json", "text", "glsc"], default="json",
                     help="glsc (reduce only): one GL String Code per typing, "
                     "hla#RELEASE#<reduced GL string>")
    hla.set_defaults(func=cmd_hla)
