"""``everydonor regimens``, ``plan`` and ``followup``: treatment planning on the command line."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from everydonor import __version__
from everydonor.adapters.cli.common import (
    NOTICE,
    case_arguments,
    case_or_stored_patient,
    load_case,
    registry_arguments,
    save_snapshots,
    write_output,
)
from everydonor.errors import InputError


def cmd_regimens(args: argparse.Namespace) -> int:
    from everydonor.adapters.inputs.regimens import bundled_regimens

    regimens = [r.summary() for r in bundled_regimens()]
    if args.format == "json":
        print(json.dumps({"regimens": regimens, "notice": NOTICE}, indent=2, ensure_ascii=False))
        return 0
    lines = [f"# everydonor regimens — {NOTICE}", ""]
    for r in regimens:
        lines.append(f"{r['id']} ({r['version']}): {r['title']}")
        lines.append(f"    {r['platform']} · {r['indication']}")
        for name, o in r["options"].items():
            lines.append(f"    option {name}: default {o['default']}; choices "
                         + "; ".join(f"{k} = {v}" for k, v in o["choices"].items()))
        lines.append(f"    {r['lines_to_verify']} line(s) to be verified by the centre ([M])"
                     + (f"; doses not set (template): {', '.join(r['unset_doses'])}"
                        if r["unset_doses"] else ""))
        lines += [f"    - {ref}" for ref in r["references"]]
    print("\n".join(lines))
    return 0


def _parse_options(items: Sequence[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError("--option takes NAME=VALUE (e.g. atg_total_mg_per_kg=7.5)",
                             field="--option", value=item)
        out[key.strip()] = value.strip()
    return out


def cmd_plan(args: argparse.Namespace) -> int:
    import datetime as dt

    from everydonor.adapters.inputs.regimens import load_regimen
    from everydonor.treatment.body import BsaFormula
    from everydonor.treatment.plan import plan_regimen

    case = case_or_stored_patient(args, "plan")
    regimen = load_regimen(args.regimen)
    try:
        day0 = dt.date.fromisoformat(args.day0)
    except ValueError:
        raise InputError("--day0 must be a date (YYYY-MM-DD)", field="--day0",
                         value=args.day0) from None
    donor = None
    if args.donor:
        try:
            donor = case.person(args.donor)
        except KeyError:
            raise InputError(f"no person {args.donor!r} in the case", field="--donor",
                             value=args.donor) from None
        if donor.role == "patient":
            raise InputError("the donor cannot be the patient", field="--donor",
                             value=args.donor)
    document = plan_regimen(regimen, case.patient, day0, bsa_formula=BsaFormula(args.bsa),
                            options=_parse_options(args.option), donor=donor,
                            engraftment_day=args.engraftment_day)
    provenance = {"software": f"everydonor {__version__}", "notice": NOTICE,
                  "reference": f"regimen {regimen.id}@{regimen.version}"}
    if args.patient is not None:
        provenance["source"] = f"registry patient {args.patient}"
    document["provenance"] = provenance
    if args.format == "json":
        out: str | bytes = json.dumps(document, indent=2, ensure_ascii=False)
    elif args.format == "text":
        from everydonor.adapters.report.plan_text import render_plan_text

        out = render_plan_text(document, provenance)
    elif args.format == "ics":
        from everydonor.adapters.report.plan_text import render_plan_ics

        stamp = dt.datetime.combine(case.as_of, dt.time(0, 0))
        out = render_plan_ics(document, stamp)
    else:
        from everydonor.adapters.report.html import render_plan_html

        html = render_plan_html(document, provenance, case.patient.name)
        if args.format == "html":
            out = html
        else:
            from everydonor.adapters.report.pdf import html_to_pdf

            out = html_to_pdf(html)
    if args.save:  # rendered whole first: a refused render keeps nothing
        save_snapshots(args, (("plan", document),), reason=f"plan {regimen.id}@{regimen.version}"
                       f" from day 0 {day0.isoformat()}")
    write_output(out, args.output)
    return 0


def _yes_no(value: bool | None) -> str:
    """A marker as a clinician reads it: yes / no / not recorded (never True/False/None)."""
    return "not recorded" if value is None else ("yes" if value else "no")


def cmd_followup(args: argparse.Namespace) -> int:
    import datetime as dt

    from everydonor.treatment.followup import assess_follow_up

    case = load_case(args)
    try:
        day0 = dt.date.fromisoformat(args.day0)
    except ValueError:
        raise InputError("--day0 must be a date (YYYY-MM-DD)", field="--day0",
                         value=args.day0) from None
    document = assess_follow_up(case.patient, day0, case.follow_up)
    document["provenance"] = {"software": f"everydonor {__version__}", "notice": NOTICE}
    if args.format == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    lines = [f"everydonor followup — patient {document['patient']} — day 0 {document['day0']}",
             f"NOTICE: {document['notice']}", "",
             f"{'day':>5}  {'date':<10}  {'WT1 %':>12}  {'WT1 positive':<12}  "
             f"{'flow positive':<13}  fusion transcript"]
    for r in document["results"]:
        fusion = (f"{r['fusion']['name']} {'positive' if r['fusion']['positive'] else 'negative'}"
                  if r["fusion"] else "not recorded")
        wt1 = "not recorded" if r["wt1_pct"] is None else f"{r['wt1_pct']:g}"
        lines.append(f"{r['day']:>+5}  {r['date']:<10}  {wt1:>12}  "
                     f"{_yes_no(r['wt1_positive']):<12}  {_yes_no(r['flow_positive']):<13}  "
                     f"{fusion}")
    if not document["results"]:
        lines.append("      (no MRD result recorded)")
    lines += ["", f"MRD status: {document['mrd_status'].replace('_', ' ').upper()} "
              f"({document['mrd_definition']['name']}, {document['mrd_definition']['citation']})",
              "", "Recommendations:"]
    for r in document["recommendations"]:
        tag = f" [{r['confidence']}; {r['citation']}]"
        lines.append(f"  - {r['action']}{tag}" + ("  (to be verified by the centre)"
                                                   if r["to_verify"] else ""))
    lines += ["", "Notes:"] + [f"  - {n}" for n in document["notes"]]
    print("\n".join(lines))
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the main parser."""
    regs = sub.add_parser("regimens", help="list the bundled regimens with their options and "
                          "references")
    regs.add_argument("--format", choices=["json", "text"], default="text")
    regs.set_defaults(func=cmd_regimens)

    plan = sub.add_parser("plan", help="doses for this patient, a dated calendar of orders, the "
                          "donor's priming and the monitoring schedule")
    plan.add_argument("case", metavar="CASE", nargs="?",
                      help="case file (JSON or YAML, everydonor.case/1)")
    plan.add_argument("--example", action="store_true", help="use the bundled example case")
    plan.add_argument("--regimen", required=True, metavar="ID|FILE",
                      help="bundled regimen id (see `everydonor regimens`) or a regimen file")
    plan.add_argument("--day0", required=True, metavar="YYYY-MM-DD",
                      help="day 0: the first graft infusion")
    plan.add_argument("--bsa", choices=["mosteller", "dubois"], default="mosteller",
                      help="body-surface-area formula (default mosteller)")
    plan.add_argument("--option", action="append", metavar="NAME=VALUE",
                      help="a regimen option, e.g. atg_total_mg_per_kg=7.5 (repeatable)")
    plan.add_argument("--donor", metavar="ID", help="the chosen donor (priming doses by the "
                      "donor's weight)")
    plan.add_argument("--engraftment-day", type=int, metavar="N",
                      help="day of engraftment, to date monitoring that starts then")
    plan.add_argument("--format", choices=["json", "text", "html", "pdf", "ics"],
                      default="json")
    plan.add_argument("-o", "--output", metavar="FILE", help="write to FILE (whole or nothing)")
    registry_arguments(plan, "the plan")
    plan.set_defaults(func=cmd_plan)

    fu = sub.add_parser("followup", help="post-transplant MRD results (the case's follow_up) "
                        "→ the protocol's recommendation, each with its source")
    case_arguments(fu)
    fu.add_argument("--day0", required=True, metavar="YYYY-MM-DD",
                    help="day 0 of the transplant (results are dated from it)")
    fu.set_defaults(func=cmd_followup)
