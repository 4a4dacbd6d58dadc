"""The HML reader: safe parsing (XXE, entity bombs, DTDs, size), streaming, legacy forms."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from everydonor.adapters.hml.reader import (
    HmlReading,
    HmlRefused,
    iter_samples,
)
from everydonor.errors import InputError
from tests.hml import hostile

DATA = Path(__file__).parent / "data"


def _read(path: Path, **kw: int) -> tuple[list, HmlReading]:  # type: ignore[type-arg]
    reading = HmlReading(str(path), kw.get("max_bytes", 1 << 30))
    return list(iter_samples(path, reading, **kw)), reading


def test_external_entity_is_refused_and_the_file_it_names_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-LINE")
    path = hostile.xxe(tmp_path, secret)
    with pytest.raises(HmlRefused) as err:
        _read(path)
    text = str(err.value)
    assert "xxe.xml" in text and "document type declaration" in text
    assert "nothing imported" in text
    assert "TOP-SECRET-LINE" not in text


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    path = hostile.billion_laughs(tmp_path)
    tracemalloc.start()
    with pytest.raises(HmlRefused, match="bomb.xml.*document type declaration"):
        _read(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5_000_000  # 10**9 'lol's were never expanded


def test_external_dtd_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HmlRefused, match="dtd.xml.*document type declaration"):
        _read(hostile.external_dtd(tmp_path))


def test_doctype_hidden_from_the_byte_scan_is_still_refused(tmp_path: Path) -> None:
    """UTF-16 hides '<!DOCTYPE' from the byte scan: the parser (or its docinfo) refuses it."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-LINE")
    text = hostile.xxe(tmp_path, secret).read_text().replace('encoding="UTF-8"',
                                                              'encoding="UTF-16"')
    path = tmp_path / "xxe16.xml"
    path.write_bytes(text.encode("utf-16"))
    with pytest.raises(HmlRefused) as err:
        _read(path)
    assert "xxe16.xml" in str(err.value)
    assert "TOP-SECRET-LINE" not in str(err.value)


def test_oversize_file_is_refused_by_its_size_before_parsing(tmp_path: Path) -> None:
    path = hostile.plain(tmp_path, 3)
    size = path.stat().st_size
    with pytest.raises(HmlRefused, match=rf"plain.xml.*{size:,} bytes.*limit of 100 bytes"):
        _read(path, max_bytes=100)
    assert len(_read(path, max_bytes=size)[0]) == 3


def test_a_file_growing_past_the_limit_is_refused_while_streaming(tmp_path: Path) -> None:
    """The limit holds while reading too (a pipe, a file that grows after the size check)."""
    import contextlib
    import os
    import threading

    path = hostile.plain(tmp_path, 200)
    fifo = tmp_path / "pipe.xml"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as w, contextlib.suppress(BrokenPipeError):
            w.write(path.read_bytes())

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        with pytest.raises(HmlRefused, match="larger than the limit of 5,000 bytes"):
            _read(fifo, max_bytes=5000)
    finally:
        writer.join(timeout=10)


@pytest.mark.parametrize(("text", "why"), [
    ('<hml version="1.0.1"><sample id="a"><typing gene-family="HLA"></sample></hml>',
     "not well-formed XML"),
    ("<html><body/></html>", "not <hml>"),
    ('<hml version="2.0"><sample id="a"/></hml>', "HML version '2.0' is not read"),
    ('<hml version="1.0.1"></hml>', "no <sample>"),
    ("", "not well-formed XML"),
])
def test_malformed_or_foreign_xml_is_refused(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(HmlRefused, match=why):
        _read(path)


def test_unreadable_typing_refuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gl.xml"
    path.write_text(hostile.message(hostile.SAMPLE.format(sid="S1", gl="HLA-A*01:01++")))
    with pytest.raises(InputError, match=r"sample 'S1'.*GL string cannot be read"):
        _read(path)
    path.write_text(hostile.message(hostile.SAMPLE.format(sid="S1", gl="HLA-A*01:01+A*02:01")
                                    * 2))
    with pytest.raises(InputError, match="sample id 'S1' appears twice"):
        _read(path)


def test_memory_stays_flat_as_the_file_grows(tmp_path: Path) -> None:
    peaks = []
    for n in (200, 2000):
        path = hostile.plain(tmp_path, n, f"m{n}.xml")
        tracemalloc.start()
        count = sum(1 for _ in iter_samples(path))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count == n
        peaks.append(peak)
    assert peaks[1] < 2 * peaks[0] + 200_000, peaks  # 10x the samples, not 10x the memory


def test_ngs_message_read_with_digest() -> None:
    import hashlib

    path = DATA / "ngs_miring.xml"
    samples, reading = _read(path)
    assert [s.id for s in samples] == ["P001", "D001"]
    assert reading.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert reading.size == path.stat().st_size
    a = samples[0].typings[0]
    assert a.gl == "HLA-A*02:01:01:01+HLA-A*11:01:01:01"  # whitespace around it removed
    assert (a.allele_db, a.allele_version, a.source) == ("IPD-IMGT/HLA", "3.58.0", "glstring")
    assert a.consensus_blocks == 1 and a.variants == 1
    assert a.methods[0]["method"] == "sbt-ngs" and a.methods[0]["raw_reads"][0]["uri"]
    b = samples[0].typings[1]
    assert b.gl is not None and b.gl.count("^") == 2  # two glstrings joined by '^'
    assert reading.miring.counts == {}


def test_legacy_forms_converted_or_flagged_never_dropped() -> None:
    samples, _ = _read(DATA / "legacy_3170.xml")
    a, b, c = samples[0].typings
    assert a.source == "genotype-list"
    assert a.gl == ("HLA-A*01:01:01:01+HLA-A*02:01:01:01|HLA-A*01:01:01:01+HLA-A*02:03:01")
    assert any("present='U'" in n and "A*02:43N" in n for n in a.notes)
    assert "A*02:09" not in (a.gl or "")  # present='N': tested and excluded
    assert (b.source, b.gl) == ("haploid", "HLA-B*08:01+HLA-B*44:02")
    assert c.gl is None
    assert any("homozygosity is never assumed" in n for n in c.notes)
    assert any("only by its URI" in n and "not fetched" in n for n in c.notes)
    assert c.uris == ("https://gl.example.org/genotype/1234",)
