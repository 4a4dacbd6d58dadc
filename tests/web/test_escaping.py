"""Injection tests against the real app and registry (SR-16): script injection in every field the
forms take, shown back on every page, in the JSON API and in the PDF report; SQL injection and
LIKE wildcards in the patient search (SQLite and PostgreSQL).

The fields are not listed by hand: every form on every page is parsed, and every field it
offers (text, number, date, search, hidden, textarea, select) is sent a payload, one field at a
time, on top of the form as the page filled it. A refused value must come back escaped in the
re-rendered form; an accepted value must be shown escaped on the pages that show it. A field
added to a form tomorrow is probed without a change here.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import inspect as sa_inspect

from everydonor.adapters.inputs.casefile import load_case_data
from tests.web.conftest import CENTRE_A, EXAMPLES, WebEnv, csrf_of, password_of, user_name

#: The payloads (a tag names the field, so a payload found on a page says where it came from).
TEMPLATES = ("<script>alert('{tag}')</script>",
             "\"><img src=x onerror=alert('{tag}')>",
             "</textarea><svg onload=alert('{tag}')>")
PLAIN = ("<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>",
         "</textarea><svg onload=alert(1)>")
#: Never probed: the form's CSRF token (a wrong one is refused before anything is read).
NOT_PROBED = {"csrf_token"}
#: Never shown back, whatever happens (a password, a one-time code).
SECRETS = {"password", "code"}


def payload(tag: str, n: int) -> str:
    return TEMPLATES[n % len(TEMPLATES)].format(tag=tag)


# -- reading HTML --------------------------------------------------------------------------------

@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)  # name -> value as the page filled it
    kinds: dict[str, str] = field(default_factory=dict)  # name -> input type / textarea / select
    keep: bool = False  # ``data-keep``: the form promises to keep what was typed


class Page(HTMLParser):
    """The page as a browser would parse it: its text and attribute values (character
    references resolved), what would run (event-handler attributes, inline or foreign
    scripts, ``javascript:`` URLs) and its forms."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.attrs: list[str] = []
        self.active: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._script = False
        self._textarea: str | None = None
        self._select: str | None = None
        self._first_option: str | None = None
        self._selected = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for k, v in a.items():
            self.attrs.append(v)
            if k.startswith("on"):
                self.active.append(f"<{tag} {k}={v!r}>")
            if k in ("href", "src", "action", "formaction") and \
                    v.strip().lower().startswith("javascript:"):
                self.active.append(f"<{tag} {k}={v!r}>")
        if tag == "script":
            self._script = True
            if not a.get("src", "").startswith("/static/"):
                self.active.append(f"<script src={a.get('src')!r}>")
        if tag in ("iframe", "object", "embed", "img", "base"):
            self.active.append(f"<{tag} {a}>")
        if tag == "form":
            self._form = Form(a.get("action", ""), a.get("method", "get").lower(),
                              keep="data-keep" in a)
            self.forms.append(self._form)
        elif self._form is not None and "name" in a:
            name = a["name"]
            if tag == "input":
                kind = a.get("type", "text").lower()
                if kind in ("checkbox", "radio"):
                    if "checked" in a:
                        self._form.fields[name] = a.get("value", "on")
                    self._form.kinds.setdefault(name, kind)
                elif kind not in ("submit", "button", "reset", "file", "image"):
                    self._form.fields[name] = a.get("value", "")
                    self._form.kinds[name] = kind
            elif tag == "textarea":
                self._textarea = name
                self._form.fields[name] = ""
                self._form.kinds[name] = "textarea"
            elif tag == "select":
                self._select = name
                self._first_option = None
                self._selected = False
                self._form.kinds[name] = "select"
        if tag == "option" and self._select is not None and self._form is not None:
            value = a.get("value", "")
            if self._first_option is None:
                self._first_option = value
                self._form.fields[self._select] = value
            if "selected" in a and not self._selected:
                self._selected = True
                self._form.fields[self._select] = value

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self._form = None

    def handle_data(self, data: str) -> None:
        if self._script and data.strip():
            self.active.append(f"inline script {data[:60]!r}")
        self.texts.append(data)
        if self._textarea is not None and self._form is not None:
            self._form.fields[self._textarea] += data

    def shows(self, text: str) -> bool:
        """``text`` is on the page as text or as an attribute's value (so it was escaped: a
        raw tag would have been parsed as a tag)."""
        return any(text in t for t in self.texts) or any(text in v for v in self.attrs)


def safe(html: str, where: str) -> Page:
    """Nothing on the page would run, and no payload is there raw."""
    page = Page(html)
    assert not page.active, f"{where}: active content injected: {page.active[:3]}"
    for raw in ("<script>alert", "<img src=x", "<svg onload"):
        at = html.find(raw)
        assert at < 0, f"{where}: raw {raw!r}: {html[max(0, at - 80):at + 80]!r}"
    return page


# -- probing the forms ---------------------------------------------------------------------------

@dataclass
class Trial:
    page: str
    action: str
    field: str
    payload: str
    status: int
    location: str | None


class Prober:
    """Sends a payload into every field of every form of a page, one field at a time, on top
    of the values the page filled in (fresh for each trial: a stored record's version moves)."""

    def __init__(self, client: TestClient) -> None:
        self.c = client
        self.trials: list[Trial] = []
        self.n = 0

    def forms(self, url: str) -> list[Form]:
        r = self.c.get(url)
        assert r.status_code == 200, (url, r.status_code, r.headers.get("location"), r.text[:300])
        return [f for f in safe(r.text, url).forms
                if f.action and not f.action.startswith(("/logout", "/lang/"))]

    def submit(self, form: Form, data: dict[str, str]) -> Any:
        action = form.action.split("#", 1)[0]
        if form.method == "post":
            return self.c.post(action, data=data)
        return self.c.get(action, params=data)

    def probe(self, url: str, *, extra: dict[str, dict[str, str]] | None = None,
              only: Iterable[str] | None = None, skip: Iterable[str] = ()) -> list[Trial]:
        """Every field of every form of ``url`` (forms by action; ``only``: these actions);
        ``extra[action]``: values put in first (what makes the rest of the form valid)."""
        done: list[Trial] = []
        wanted = set(only) if only is not None else None
        for form in self.forms(url):
            action = form.action.split("#", 1)[0]
            if (wanted is not None and action not in wanted) or action in skip:
                continue
            for name in sorted(form.kinds):
                if name in NOT_PROBED:
                    continue
                fresh = next(f for f in self.forms(url)
                             if (f.action, f.method) == (form.action, form.method))
                data = {**fresh.fields, **(extra or {}).get(action, {})}
                value = payload(name, self.n)
                self.n += 1
                data[name] = value
                r = self.submit(fresh, data)
                where = f"{form.method.upper()} {action} [{name}]"
                assert r.status_code < 500, f"{where}: {r.status_code} {r.text[:500]}"
                if r.status_code in (301, 302, 303, 307):
                    location = r.headers["location"]
                else:
                    location = None
                    page = safe(r.text, where)
                    if name in SECRETS or form.kinds[name] == "password":
                        assert not page.shows(value), f"{where}: a secret is shown back"
                    elif r.status_code == 422 and form.keep and \
                            form.kinds[name] in ("text", "textarea", "search", "number"):
                        assert page.shows(value), f"{where}: the refused value is not shown back"
                trial = Trial(url, action, name, value, r.status_code, location)
                if location == "/login" or self.c.get("/account").status_code != 200:
                    raise AssertionError(f"{where}: signed out ({r.status_code} {location})")
                done.append(trial)
        self.trials += done
        return done

    def stored(self) -> list[Trial]:
        return [t for t in self.trials if t.location is not None]


def sign_in_with_name(env: WebEnv, username: str, display_name: str) -> TestClient:
    out = env.accounts.create(username, role="physician", centre=CENTRE_A,
                              display_name=display_name, password=password_of(username),
                              actor="fixture", now=env.clock())
    env.totp[username] = out["totp_secret"]
    return env.login(username)


def hla_of_example(name: str, person: str = "patient") -> dict[str, str]:
    case = load_case_data(str(EXAMPLES / name))
    p = case["patient"] if person == "patient" else next(
        r for r in case["relatives"] if r["id"] == person)
    out = {}
    for locus, pair in p["hla"].items():
        out[f"hla_{locus}_1"], out[f"hla_{locus}_2"] = pair
    return out


# -- script injection: every form, every page ------------------------------------------------------

EXAMPLE = "01-matched-sibling-and-haplo-siblings.yaml"
XSS_USER = "xss.physician"
XSS_NAME = f"Dr {PLAIN[1]}"


def test_every_form_field_and_every_page_escape_script(web: WebEnv) -> None:
    c = sign_in_with_name(web, XSS_USER, XSS_NAME)
    probe = Prober(c)
    upn = "A-001"

    # the new-patient form: a fresh UPN per trial (an accepted trial creates a patient)
    base = {"sex": "male", "age": "40", "weight_kg": "70", "abo": "A+", "cmv_igg": "positive",
            "diagnosis": "AML", "disease_status": "CR1", "disease_risk": "standard",
            **hla_of_example(EXAMPLE)}
    new = probe.forms("/patients/new")
    (form,) = [f for f in new if f.action == "/patients"]
    for i, name in enumerate(sorted(form.kinds)):
        if name in NOT_PROBED:
            continue
        fresh = next(f for f in probe.forms("/patients/new") if f.action == "/patients")
        data = {**fresh.fields, **base, "upn": f"X-{i:03d}"}
        data[name] = value = payload(name, i)
        r = c.post("/patients", data=data)
        assert r.status_code in (303, 422), (name, r.status_code, r.text[:300])
        if r.status_code == 422:
            assert safe(r.text, f"new patient [{name}]").shows(value), name
        probe.trials.append(Trial("/patients/new", "/patients", name, value, r.status_code,
                                  r.headers.get("location")))
    created = sorted({t.location.removeprefix("/patients/") for t in probe.stored()
                      if t.location})
    assert created, "no new-patient trial was accepted: the baseline form is wrong"

    # a relative added (fresh person id and version each time), then every person edited
    probe.probe(f"/patients/{upn}/persons/new",
                extra={f"/patients/{upn}/persons": {"relationship": "brother", "sex": "male",
                                                    "reason": "probe"}})
    document, _, _ = web.registry.clinical_case(upn)
    persons = [document["patient"]["id"], *(p["id"] for p in document["relatives"])]
    for pid in persons[:3]:
        probe.probe(f"/patients/{upn}/persons/{pid}",
                    extra={f"/patients/{upn}/persons/{pid}": {"reason": "probe"}})

    # the ranking: the rule-set switch and the keep form (its note is the snapshot's reason)
    probe.probe(f"/patients/{upn}/ranking")
    kept = [t.location for t in probe.stored() if t.action == f"/patients/{upn}/ranking"]
    assert kept, [(t.action, t.field, t.status) for t in probe.trials[-4:]]
    snapshot = kept[-1].removeprefix("/snapshots/")
    # the sign form refuses every payload; then a real signature (the printed name is shown)
    probe.probe(f"/snapshots/{snapshot}")
    page = c.get(f"/snapshots/{snapshot}")
    web.clock.advance(seconds=31)
    r = c.post(f"/snapshots/{snapshot}/sign",
               data={"csrf_token": csrf_of(page.text), "meaning": "authored",
                     "password": password_of(XSS_USER), "code": web.code(XSS_USER),
                     "confirm": "yes"})
    assert r.status_code == 303, r.text[:500]

    # the treatment plan (a GET form), then its keep form (a patient with a height: BSA)
    probe.probe(f"/patients/{upn}/plan")
    web.registry.add_case(load_case_data(str(EXAMPLES / "07-post-transplant-mrd-follow-up.yaml")),
                          actor="fixture", upn="A-007", centre=CENTRE_A)
    regimen = next(f for f in Page(c.get("/patients/A-007/plan").text).forms
                   if "regimen" in f.fields).fields["regimen"]
    probe.probe(f"/patients/A-007/plan?regimen={regimen}&day0=2026-11-20",
                only=["/patients/A-007/plan"])
    page = c.get(f"/patients/A-007/plan?regimen={regimen}&day0=2026-11-20")
    keep = next(f for f in Page(page.text).forms
                if f.method == "post" and f.action == "/patients/A-007/plan")
    r = c.post(keep.action, data=keep.fields)
    assert r.status_code == 303, r.text[:300]
    plan_kept = r.headers["location"]

    # follow-up: the transplant first, then every form
    fu = f"/patients/{upn}/followup"
    probe.probe(fu, extra={f"{fu}/hct": {"day0": "2026-11-20"}})
    probe.probe(fu, extra={f"{fu}/engraftment": {"anc_500_date": "2026-11-30"},
                           f"{fu}/cmv": {"load_iu_ml": "0"},
                           f"{fu}/chimerism": {"donor_pct": "99"},
                           f"{fu}/mrd": {"wt1_pct": "0.1"}},
                skip=[f"{fu}/hct"])

    # the htmx fragments the forms call
    for i, value in enumerate(PLAIN):
        r = c.post("/hla/check", data={"locus": "A", "value": value, "field": "hla_A_1"},
                   headers={"HX-Request": "true", "X-CSRF-Token": csrf_of(page.text)})
        assert r.status_code < 500
        safe(r.text, f"/hla/check {i}")
        r = c.post(f"{fu}/cmv/preview", data={"date": "2026-12-01", "load_iu_ml": value,
                                             "note": value},
                   headers={"HX-Request": "true", "X-CSRF-Token": csrf_of(page.text)})
        assert r.status_code < 500
        safe(r.text, f"{fu}/cmv/preview {i}")

    # every page that shows what was stored
    pages = ["/patients", "/account", f"/patients?q={created[0]}", f"/snapshots/{snapshot}",
             f"/patients/{upn}/ranking?rules=beijing", f"/patients/{upn}/plan", fu,
             plan_kept]
    for u in [upn, *created]:
        pages.append(f"/patients/{u}")
        doc, _, _ = web.registry.clinical_case(u)
        pages += [f"/patients/{u}/persons/{p['id']}"
                  for p in [doc["patient"], *doc.get("relatives", [])]]
    for u in [upn, created[0]]:
        history = c.get(f"/patients/{u}/history")
        if history.status_code == 200:
            pages.append(f"/patients/{u}/history")
    shown: dict[str, Page] = {}
    for url in pages:
        r = c.get(url)
        assert r.status_code == 200, (url, r.status_code)
        shown[url] = safe(r.text, url)
    stored = {(t.action, t.field) for t in probe.stored()}
    for name in ("diagnosis", "disease_status", "desensitization_plan"):
        assert any(f == name for _, f in stored), f"{name}: no payload was accepted"
    for t in probe.stored():
        if t.field in SHOWN_FIELDS and (t.field != "reason" or t.action.endswith("/ranking")):
            where = [u for u, p in shown.items() if p.shows(t.payload)]
            assert where, f"{t.action} [{t.field}]: stored, but shown escaped nowhere"
    # the printed name: the header, the signatures, the kept rankings
    for url in ("/account", f"/snapshots/{snapshot}", f"/patients/{upn}/ranking?rules=beijing"):
        assert shown[url].shows(XSS_NAME), url
    # the diagnosis everywhere it is shown
    diagnosis = next(t.payload for t in probe.stored() if t.field == "diagnosis")
    u = next(t.location for t in probe.stored() if t.field == "diagnosis")
    assert u is not None
    assert shown["/patients"].shows(diagnosis) and shown[u].shows(diagnosis)
    # the JSON API: the printed name as a JSON string, served as JSON
    r = c.get("/api/v1/session")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.json()["display_name"] == XSS_NAME


#: Free-text fields that, once stored, must be shown (escaped) on some page.
SHOWN_FIELDS = {"diagnosis", "disease_status", "desensitization_plan", "note", "specimen",
                "pre_emptive_therapy", "method", "lineage", "sample", "fusion_name", "graft",
                "reason"}


# -- SQL injection and LIKE wildcards in the patient search ------------------------------------------

SQL_PAYLOADS = ("' OR 1=1 --", "%' OR '1'='1", "A-001'; DROP TABLE patient; --",
                "\" OR \"\"=\"", "'; DELETE FROM patient WHERE '1'='1", "\\", "\\%", "*")


def _listed(c: TestClient, q: str) -> set[str]:
    r = c.get("/patients", params={"q": q}, headers={"HX-Request": "true"})
    assert r.status_code == 200, (q, r.status_code, r.text[:300])
    safe(r.text, f"search {q!r}")
    return set(re.findall(r'<a href="/patients/([^"/?]+)">', r.text))


def _add(env: WebEnv, upn: str, centre: str, diagnosis: str) -> None:
    case = load_case_data(str(EXAMPLES / EXAMPLE))
    case["patient"]["diagnosis"] = diagnosis
    env.registry.add_case(case, actor="fixture", upn=upn, centre=centre)


def test_patient_search_is_not_sql_and_wildcards_are_literal(web_db: WebEnv) -> None:
    env = web_db
    # a literal '%' and '_' in this centre's data, and the same in the other centre's
    _add(env, "A_100", CENTRE_A, "MDS 10% blasts")
    _add(env, "B_200", "OTHER", "AML 5% blasts")
    _add(env, "B-300", "OTHER", "' OR 1=1 --")
    c = env.login(user_name("data_entry", CENTRE_A))
    mine = {"A-001", "A-002", "A_100"}
    tables = set(sa_inspect(env.registry.engine).get_table_names())
    counts = env.registry.list_patients(limit=1000)["total"]

    # what a user expects of a substring search (case-insensitive)
    assert _listed(c, "") == mine
    assert _listed(c, "a-00") == {"A-001", "A-002"}
    assert _listed(c, "blasts") == {"A_100"}  # never B_200 of the other centre
    # LIKE wildcards are the characters themselves, not "anything"
    assert _listed(c, "%") == {"A_100"}  # '10% blasts'
    assert _listed(c, "_") == {"A_100"}  # the UPN
    assert _listed(c, "A_1") == {"A_100"}
    assert _listed(c, "A%1") == set()
    assert _listed(c, "A_0") == set()  # '_' is not "any one character" (A-001 does not match)
    # SQL in the search is text
    for q in SQL_PAYLOADS:
        found = _listed(c, q)
        assert found <= mine, (q, found)
        assert found == set(), (q, found)
        r = c.get("/patients", params={"q": q})
        assert r.status_code == 200
        assert "No patients match." in r.text
    # the other centre's patient whose diagnosis IS the injection text stays invisible
    assert _listed(c, "' OR 1=1 --") == set()
    other = env.login(user_name("data_entry", "OTHER"))
    assert _listed(other, "' OR 1=1 --") == {"B-300"}
    # tables intact, nothing deleted, pages still work
    assert set(sa_inspect(env.registry.engine).get_table_names()) == tables
    assert env.registry.list_patients(limit=1000)["total"] == counts
    assert c.get("/patients/A-001").status_code == 200
    # over-long search refused cleanly (the form says maxlength 64)
    assert c.get("/patients", params={"q": "x" * 65}).status_code == 422


# -- the PDF report --------------------------------------------------------------------------------

def test_pdf_report_prints_markup_as_text(web: WebEnv) -> None:
    """The payload in the diagnosis, the disease status and the signer's printed name is
    literal text in the PDF: not a tag WeasyPrint would lay out (an ``<img>``, a ``<script>``)."""
    from pypdf import PdfReader

    c = sign_in_with_name(web, XSS_USER, XSS_NAME)
    page = c.get("/patients/A-001/persons/P")
    form = next(f for f in Page(page.text).forms if f.action == "/patients/A-001/persons/P")
    r = c.post(form.action, data={**form.fields, "diagnosis": PLAIN[0],
                                  "disease_status": "</td></tr><tr><td>CR1",
                                  "reason": PLAIN[2]})
    assert r.status_code == 303, r.text[:500]
    page = c.get("/patients/A-001/ranking")
    r = c.post("/patients/A-001/ranking", data={"csrf_token": csrf_of(page.text),
                                                "rules": "beijing", "reason": PLAIN[1]})
    assert r.status_code == 303
    snapshot = r.headers["location"].removeprefix("/snapshots/")
    web.clock.advance(seconds=31)
    r = c.post(f"/snapshots/{snapshot}/sign",
               data={"csrf_token": csrf_of(page.text), "meaning": "approved",
                     "password": password_of(XSS_USER),
                     "code": web.code(XSS_USER), "confirm": "yes"})
    assert r.status_code == 303, r.text[:500]
    r = c.get(f"/snapshots/{snapshot}/report.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(r.content)).pages)
    flat = re.sub(r"\s+", "", text)
    for literal in (PLAIN[0], "</td></tr><tr><td>CR1", XSS_NAME):
        assert re.sub(r"\s+", "", literal) in flat, (literal, text[:2000])
    assert "决策支持" not in flat
    # the report follows the UI language (the language switch's cookie)
    assert c.get("/lang/zh", params={"next": "/patients"}).status_code == 303
    r = c.get(f"/snapshots/{snapshot}/report.pdf")
    assert r.status_code == 200
    text = "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(r.content)).pages)
    flat = re.sub(r"\s+", "", text)
    assert "决策支持" in flat, text[:1000]
    assert re.sub(r"\s+", "", PLAIN[0]) in flat
