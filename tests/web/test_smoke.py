"""Sign in and see the patient list: the skeleton every other web test stands on."""

from __future__ import annotations

from tests.web.conftest import WebEnv, user_name


def test_physician_signs_in_with_totp_and_sees_own_centre(web: WebEnv) -> None:
    c = web.login(user_name("physician", "PKUPH"))
    r = c.get("/patients")
    assert r.status_code == 200
    assert "A-001" in r.text and "A-002" in r.text
    assert "B-001" not in r.text
