"""``everydonor outcomes report``: the centre's outcomes report (PDF) from the registry.

The report (:mod:`everydonor.adapters.report.centre_report`) holds the activity picture and,
per endpoint, the curves, the estimates at stated times with their 95% CI and numbers at risk,
and who was excluded and why. Every endpoint read is audited by the registry adapter, and the
report itself once more (``outcomes.report``: cohort, counts, SHA-256 of its numbers, output).
The PDF is written whole or not at all; bad options exit 2 with nothing written.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from everydonor.errors import InputError


def cmd_report(args: argparse.Namespace) -> int:
    from everydonor.adapters.cli.common import write_output
    from everydonor.adapters.registry.store import Registry, os_user
    from everydonor.adapters.report.centre_report import (
        REPORT_ENDPOINTS,
        ReportRequest,
        audit_report,
        parse_at_options,
        parse_date,
        render_pdf,
        report_document,
    )
    from everydonor.adapters.report.html import Language
    from everydonor.adapters.web.i18n import translations

    output = args.output
    if not output or output == "-" or os.path.isdir(output):
        raise InputError("-o takes the PDF file to write", field="-o", value=str(output))
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise InputError(f"output folder {folder!r} does not exist", field="-o", value=output)
    endpoints = tuple(REPORT_ENDPOINTS)
    if args.endpoint:
        unknown = [e for e in args.endpoint if e not in REPORT_ENDPOINTS]
        if unknown:
            raise InputError(f"unknown endpoint {unknown[0]!r} (endpoints: "
                             f"{', '.join(REPORT_ENDPOINTS)})", field="--endpoint",
                             value=unknown[0])
        endpoints = tuple(args.endpoint)
    request = ReportRequest(centre=args.centre, date_from=parse_date(args.date_from, "--from"),
                            date_to=parse_date(args.date_to, "--to"), cohort=args.cohort,
                            endpoints=endpoints, at=parse_at_options(args.at),
                            group_by_donor_type=not args.no_groups)
    actor = args.user or os_user()
    reason = args.reason or "centre outcomes report"
    registry = Registry(args.db)
    try:
        document = report_document(registry, request, actor=actor, reason=reason)
        language = Language(args.language, translations(args.language))
        pdf = render_pdf(document, language=language)
        audit_report(registry, document, actor=actor, reason=reason, action="outcomes.report",
                     output=os.path.basename(output))
        write_output(pdf, output)
    finally:
        registry.close()
    print(f"{output}: {document['patients']} patients, {document['activity']['total']} "
          f"transplants, {len(document['endpoints'])} endpoints ({document['software']})")
    return 0


def register(kinds: Any) -> None:
    """Add ``outcomes report`` to the ``outcomes`` subcommands."""
    from everydonor.adapters.report.centre_report import DEFAULT_TIMES

    defaults = "; ".join(f"{k} {','.join(f'{t:g}' for t in v)}" for k, v in DEFAULT_TIMES.items())
    p = kinds.add_parser("report", help="the centre's outcomes report (PDF): activity, curves "
                         "with numbers at risk and estimates for every registry endpoint")
    p.add_argument("--db", metavar="URL", help="registry database URL (default: EVERYDONOR_DB "
                   "or the per-user SQLite file)")
    p.add_argument("-o", "--output", required=True, metavar="centre-report.pdf")
    p.add_argument("--centre", metavar="CODE", help="this centre only (default: every centre)")
    p.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD",
                   help="transplants with day 0 on or after this date")
    p.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD",
                   help="transplants with day 0 on or before this date")
    p.add_argument("--cohort", metavar="FILTER", help="cohort filter, e.g. "
                   "'disease=AML|ALL,donor_type=haploidentical related,hct=first'")
    p.add_argument("--endpoint", action="append", default=[], metavar="NAME",
                   help="only these endpoints (repeatable; default: all)")
    p.add_argument("--at", action="append", default=[], metavar="ENDPOINT=T1,T2",
                   help=f"estimate times in days from HCT (defaults: {defaults})")
    p.add_argument("--no-groups", action="store_true",
                   help="one curve per endpoint (default: one per donor type, with the test)")
    p.add_argument("--language", choices=["en", "zh"], default="en")
    p.add_argument("--user", metavar="NAME", help="who produces the report (audit; default: "
                   "the OS login)")
    p.add_argument("--reason", metavar="TEXT", help="why (audit; default 'centre outcomes "
                   "report')")
    p.set_defaults(func=cmd_report)
