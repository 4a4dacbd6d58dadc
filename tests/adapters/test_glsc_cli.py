"""GL String Codes on the command line: ``hla check|reduce|expand`` and ``reduce --format glsc``;
a code written under another release is checked under it when installed, else flagged."""

import json
import shutil
from pathlib import Path

import pytest

from everydonor.adapters.cli import main
from everydonor.adapters.reference.imgt import REQUIRED_FILES, bundled_release_dir
from everydonor.adapters.reference.releases import RELEASES_ENV, find_release
from everydonor.errors import ReferenceDataError
from everydonor.hla.glsc import parse_glsc


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _release(root: Path, version: str, *, folder: str | None = None,
             extra_allele: str | None = None) -> Path:
    """A release folder relabelled ``version`` (the bundled files), optionally with one more
    allele name, so that an answer shows which release it was checked under."""
    target = root / (folder or version)
    for name in (*REQUIRED_FILES, "release_version.txt"):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundled_release_dir() / name, target / name)
    for name in ("release_version.txt", "Allelelist.txt"):
        p = target / name
        p.write_text(p.read_text().replace("IPD-IMGT/HLA 3.58.0", f"IPD-IMGT/HLA {version}"))
    if extra_allele:
        p = target / "Allelelist.txt"
        p.write_text(p.read_text().rstrip("\n") + f"\nHLA99999,{extra_allele}\n")
    return target


def test_reduce_format_glsc(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "hla", "reduce", "--format", "glsc", "A*01:01:01:01",
                         "hla#3.58.0#HLA-A*01:01:01:01+HLA-A*02:01:01:01^HLA-B*08:01:01:01"
                         "+HLA-B*07:02:01:01", "A*02:01:01:01+A*24:02:01:01")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("# everydonor ") and "IPD-IMGT/HLA 3.58.0" in lines[0]
    assert "reduce --to lgx" in lines[0] and "Decision support" in lines[0]
    assert lines[1:] == ["hla#3.58.0#HLA-A*01:01",
                         "hla#3.58.0#HLA-A*01:01+HLA-A*02:01^HLA-B*08:01+HLA-B*07:02",
                         "hla#3.58.0#HLA-A*02:01+HLA-A*24:02"]
    for line in lines[1:]:
        assert parse_glsc(line).version == "3.58.0"


def test_reduce_format_glsc_to_g_and_refusals(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "hla", "reduce", "--to", "g", "--format", "glsc",
                       "hla#3.58.0#HLA-A*01:01:01:01+HLA-A*01:01:01:01")
    assert code == 0 and out.splitlines()[1] == "hla#3.58.0#HLA-A*01:01:01G+HLA-A*01:01:01G"
    code, out, err = run(capsys, "hla", "check", "--format", "glsc", "A*01:01")
    assert code == 2 and out == "" and "--format glsc writes reductions" in err


def test_json_answer_records_release_and_code(capsys: pytest.CaptureFixture[str]) -> None:
    text = "hla#3.58.0#HLA-A*01:01:01:01+HLA-A*02:01:01:01"
    code, out, _ = run(capsys, "hla", "reduce", text)
    doc = json.loads(out)
    assert code == 0 and doc["release"] == "3.58.0"
    result = doc["results"][0]
    assert result["input"] == text and result["output"] == "A*01:01+A*02:01"
    assert result["release"] == "3.58.0"
    assert result["glsc"] == {"namespace": "hla", "version": "3.58.0", "version_kind": "release"}
    assert "warnings" not in result and "warnings" not in doc


@pytest.mark.parametrize(("text", "message"), [
    ("hla#3.58#HLA-A*01:01", "neither a release like 3.58.0"),
    ("mhc#3.58.0#HLA-A*01:01", "namespace 'mhc' is not 'hla' or 'kir'"),
    ("hla##HLA-A*01:01", "empty version"),
    ("hla#3.58.0#", "empty GL string after the version"),
])
def test_malformed_code_exit_2_nothing_written(capsys: pytest.CaptureFixture[str], text: str,
                                                message: str) -> None:
    for action in ("check", "reduce", "expand"):
        code, out, err = run(capsys, "hla", action, text)
        assert code == 2 and message in err
        if action != "check":
            assert out == ""


def test_other_release_not_installed_is_flagged(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setenv(RELEASES_ENV, str(tmp_path))
    text = "hla#3.40.0#HLA-A*01:01:01:01+HLA-A*02:01:01:01"
    code, out, err = run(capsys, "hla", "reduce", text)
    assert code == 0
    doc = json.loads(out)
    result = doc["results"][0]
    assert result["input"] == text  # verbatim, with its version
    assert result["glsc"]["version"] == "3.40.0" and result["release"] == "3.58.0"
    (warning,) = result["warnings"]
    assert doc["warnings"] == [warning]
    for part in (text, "3.40.0", "3.58.0", "not installed", "kept verbatim"):
        assert part in warning
    code, out, err = run(capsys, "hla", "check", "--format", "text", text)
    assert code == 0 and "# warning: " in out and "everydonor: warning: " in err
    code, out, _ = run(capsys, "hla", "reduce", "--format", "glsc", text)
    assert code == 0 and "# warning: " in out
    assert out.splitlines()[-1] == "hla#3.58.0#HLA-A*01:01+HLA-A*02:01"  # read under 3.58.0


def test_construction_date_is_flagged(capsys: pytest.CaptureFixture[str]) -> None:
    text = "hla#2024-05-06#HLA-B*08:01:01:01+HLA-B*07:02:01:01"
    code, out, _ = run(capsys, "hla", "check", text)
    result = json.loads(out)["results"][0]
    assert code == 0 and result["valid"] is True
    assert result["glsc"]["version_kind"] == "construction_date"
    assert "construction date (2024-05-06)" in result["warnings"][0]


def test_installed_release_checks_under_it(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    _release(tmp_path, "3.40.0", folder="3400", extra_allele="A*01:999")
    monkeypatch.setenv(RELEASES_ENV, str(tmp_path))
    under_340 = "hla#3.40.0#HLA-A*01:999+HLA-A*02:01:01:01"
    code, out, _ = run(capsys, "hla", "check", under_340)
    result = json.loads(out)["results"][0]
    assert code == 0 and result["valid"] is True
    assert result["release"] == "3.40.0" and "warnings" not in result
    code, out, _ = run(capsys, "hla", "reduce", "--format", "glsc", under_340)
    assert code == 0 and out.splitlines()[-1] == "hla#3.40.0#HLA-A*01:999+HLA-A*02:01"
    # the same name under the loaded release is not an allele: the check really used 3.40.0
    code, out, _ = run(capsys, "hla", "check", "hla#3.58.0#HLA-A*01:999+HLA-A*02:01:01:01")
    result = json.loads(out)["results"][0]
    assert code == 2 and result["error"]["error"] == "UnknownAllele"


def test_mislabelled_release_folder_refused(tmp_path: Path) -> None:
    _release(tmp_path, "3.41.0", folder="3.40.0")
    with pytest.raises(ReferenceDataError, match="named for 3.40.0 but holds IPD-IMGT/HLA 3.41.0"):
        find_release("3.40.0", [tmp_path])
    assert find_release("3.39.0", [tmp_path]) is None
    assert find_release("3.58.0", []) == bundled_release_dir()


def test_paralog_and_kir_codes_kept_not_split(capsys: pytest.CaptureFixture[str]) -> None:
    paralog = "hla#3.58.0#HLA-DRB3*01:01:02:01?HLA-DRB4*01:03:01:01+HLA-DRB4*01:03:01:01"
    code, out, _ = run(capsys, "hla", "check", paralog)
    result = json.loads(out)["results"][0]
    assert code == 0 and result["valid"] is True and result["names"] == 3
    assert "py-ard 2.4.2 does not split it" in result["warnings"][0]
    code, out, _ = run(capsys, "hla", "check",
                       "hla#3.58.0#HLA-DRB3*01:01:02:01?HLA-DRB4*01:99:99")
    assert code == 2 and json.loads(out)["results"][0]["error"]["error"] == "UnknownAllele"
    code, out, _ = run(capsys, "hla", "reduce", paralog)
    result = json.loads(out)["results"][0]
    assert code == 0 and result["output"] is None and "'?'" in result["note"]
    kir = "kir#2.10.0#KIR2DL1*0010101+KIR2DL1*0020101"
    code, out, _ = run(capsys, "hla", "check", kir)
    result = json.loads(out)["results"][0]
    assert code == 0 and result["valid"] is None and "IPD-KIR" in result["warnings"][0]
