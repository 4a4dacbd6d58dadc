"""HML import: the streaming reader against a naive DOM parse of the same files, same run.

Generates HML 1.0.1 messages of ``--sizes`` samples (default 1,000 and 10,000). Each sample is
an NGS report of three typings (A; B and C; DRB1 and DQB1), each with an ``sbt-ngs`` method
(test id, raw reads), a reference sequence and a 300-base consensus-sequence block, under
IPD-IMGT/HLA 3.58.0 (about 4 kB a sample: 10,000 samples = 40 MB). Then, each in a fresh
process (so that peak memory is that job's alone):

* ``stream``: :func:`everydonor.adapters.hml.reader.iter_samples` alone (the safe streaming
  parse: samples read, MIRING-checked and dropped);
* ``import``: :func:`everydonor.adapters.hml.importer.read_message`, the whole ``hml import``
  answer (every typing as a GL String Code, validated against the release, MIRING report,
  SHA-256);
* ``dom_import``: the same work as ``import`` (each sample read, MIRING-checked, judged) on a
  whole tree parsed first by ``lxml.etree.parse`` (entities and network off): the DOM way;
* ``dom_extract``: the naive minimum: ``lxml.etree.parse`` of the whole file, then the GL
  strings pulled out per sample (no checks, no validation: far less work than ``import``).

Peak memory is the process's peak resident set (``resource.getrusage``, ru_maxrss) less its
resident set just before parsing: libxml2's C allocations are counted, which tracemalloc would
miss. The release tables are loaded before that point (``import``, ``dom_import``).
Times are the best of ``--repeat`` runs. ``--check`` exits 1 unless the ``import`` of 10,000
samples takes under 30 s and the streaming parse's memory is flat (10x the samples: less than
1.5x the peak, plus 8 MB).

Usage: python benchmarks/hml_import.py [--sizes 1000 10000] [--repeat 1] [--check]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TARGET_S = 30.0
TARGET_SAMPLES = 10_000
NS = "http://schemas.nmdp.org/spec/hml/1.0.1"
#: Alleles of IPD-IMGT/HLA 3.58.0 the generator draws from (per locus).
ALLELES = {
    "A": ["A*01:01:01:01", "A*02:01:01:01", "A*03:01:01:01", "A*11:01:01:01", "A*24:02:01:01"],
    "B": ["B*07:02:01:01", "B*08:01:01:01", "B*35:01:01:02", "B*44:02:01:01", "B*51:01:01:01"],
    "C": ["C*01:02:01:01", "C*03:04:01:01", "C*07:01:01:01", "C*07:02:01:01", "C*04:01:01:01"],
    "DRB1": ["DRB1*03:01:01:01", "DRB1*04:01:01:01", "DRB1*07:01:01:01", "DRB1*15:01:01:01"],
    "DQB1": ["DQB1*02:01:01", "DQB1*03:01:01:01", "DQB1*06:02:01:01", "DQB1*05:01:01:01"],
}
TYPINGS = (("A",), ("B", "C"), ("DRB1", "DQB1"))
MODES = ("stream", "import", "dom_import", "dom_extract")


def generate(path: Path, n: int, seed: int = 15) -> None:
    rnd = random.Random(seed)
    seq = "".join(rnd.choice("ACGT") for _ in range(300))
    with path.open("w", encoding="utf-8") as f:
        f.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<hml xmlns="{NS}" version="1.0.1">\n'
                '<hmlid root="2.16.840.1.999999.15" extension="BENCH"/>\n'
                '<reporting-center reporting-center-id="9001" '
                'reporting-center-context="NMDP"/>\n')
        for i in range(n):
            f.write(f'<sample id="S{i:07d}" center-code="9001">')
            for j, loci in enumerate(TYPINGS):
                gl = "^".join("+".join(f"HLA-{rnd.choice(ALLELES[loc])}" for _ in range(2))
                              for loc in loci)
                f.write(
                    '<typing gene-family="HLA" date="2026-03-02">'
                    '<allele-assignment date="2026-03-04" allele-db="IPD-IMGT/HLA" '
                    f'allele-version="3.58.0"><glstring>{gl}</glstring></allele-assignment>'
                    f'<typing-method><sbt-ngs locus="HLA-{loci[0]}" test-id="GTR000000015.1" '
                    'test-id-source="NCBI-GTR"><raw-reads uri="r.fastq.gz" '
                    'availability="private" format="fastq"/></sbt-ngs></typing-method>'
                    '<consensus-sequence date="2026-03-02"><reference-database '
                    'availability="public" curated="true"><reference-sequence '
                    f'id="R{j}" name="ref" start="0" end="1000" accession="GL000999.1" '
                    'uri="https://example.org/r"/></reference-database>'
                    f'<consensus-sequence-block reference-sequence-id="R{j}" start="100" '
                    'end="400" phase-set="1" expected-copy-number="1" continuity="true" '
                    f'description="c"><sequence>{seq}</sequence></consensus-sequence-block>'
                    '</consensus-sequence></typing>')
            f.write("</sample>\n")
        f.write("</hml>\n")


def _rss_now_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def _peak_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def job(mode: str, path: str) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    import gc

    from lxml import etree

    from everydonor.adapters.hml.importer import ImportedSample, judge_typing, read_message
    from everydonor.adapters.hml.miring import local
    from everydonor.adapters.hml.reader import HmlReading, _sample, iter_samples
    from everydonor.adapters.reference.imgt import load_reference

    ref = load_reference(None) if mode in ("import", "dom_import") else None
    gc.collect()
    before = _rss_now_kb()
    start = time.perf_counter()
    typings = -1
    if mode == "stream":
        samples = sum(1 for _ in iter_samples(path))
    elif mode == "import":
        assert ref is not None
        message = read_message(path, ref)
        samples = len(message.samples)
        typings = sum(1 for s in message.samples for t in s.typings if t.valid)
    elif mode == "dom_import":
        assert ref is not None
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        tree = etree.parse(path, parser)
        reading = HmlReading(path, 1 << 30)
        seen: set[str] = set()
        out = [ImportedSample(s, tuple(judge_typing(t, s.id, ref, None) for t in s.typings))
               for s in (_sample(el, path, reading, seen) for el in tree.getroot()
                         if local(el) == "sample")]
        samples = len(out)
        typings = sum(1 for s in out for t in s.typings if t.valid)
    else:
        tree = etree.parse(path)
        ns = {"h": NS}
        samples = typings = 0
        for sample in tree.getroot().iterfind("h:sample", ns):
            samples += 1
            typings += sum(1 for g in sample.iterfind(".//h:glstring", ns)
                           if "".join((g.text or "").split()))
    seconds = time.perf_counter() - start
    return {"mode": mode, "seconds": seconds, "samples": samples, "typings": typings,
            "peak_mb": max(0, _peak_kb() - before) / 1024}


def measure(mode: str, path: Path, repeat: int) -> dict[str, Any]:
    best: dict[str, Any] | None = None
    for _ in range(repeat):
        done = subprocess.run([sys.executable, __file__, "--job", mode, str(path)],
                              capture_output=True, text=True, check=True)
        result = json.loads(done.stdout)
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    assert best is not None
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, TARGET_SAMPLES])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--job", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job:
        print(json.dumps(job(*args.job)))
        return 0
    results: dict[int, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"hml_{n}.xml"
            generate(path, n)
            size_mb = path.stat().st_size / 1e6
            row = {mode: measure(mode, path, args.repeat) for mode in MODES}
            results[n] = row
            s, i, di, d = row["stream"], row["import"], row["dom_import"], row["dom_extract"]
            assert s["samples"] == i["samples"] == di["samples"] == d["samples"] == n
            assert i["typings"] == di["typings"] == d["typings"] == 3 * n, (i, di, d)
            print(f"samples: {n:,} ({size_mb:.1f} MB)")
            for mode in MODES:
                r = row[mode]
                print(f"  {mode:<12} {r['seconds']:8.2f} s   peak +{r['peak_mb']:7.1f} MB")
            print(f"  ratio (time): dom_import/import {di['seconds'] / i['seconds']:.2f}x, "
                  f"import/dom_extract {i['seconds'] / d['seconds']:.1f}x")
            print(f"  ratio (peak memory): dom_import/import "
                  f"{di['peak_mb'] / max(i['peak_mb'], 0.1):.1f}x, dom_extract/stream "
                  f"{d['peak_mb'] / max(s['peak_mb'], 0.1):.1f}x")
            sys.stdout.flush()
    failures = []
    if args.check:
        big = results.get(TARGET_SAMPLES)
        if big is None:
            failures.append(f"--check needs --sizes to include {TARGET_SAMPLES}")
        else:
            if big["import"]["seconds"] >= TARGET_S:
                failures.append(f"import of {TARGET_SAMPLES:,} samples took "
                                f"{big['import']['seconds']:.1f} s (target < {TARGET_S:.0f} s)")
            small = results.get(min(results))
            if small is not None and min(results) < TARGET_SAMPLES:
                limit = 1.5 * small["stream"]["peak_mb"] + 8
                if big["stream"]["peak_mb"] > limit:
                    failures.append(f"streaming memory not flat: {big['stream']['peak_mb']:.1f} "
                                    f"MB at {TARGET_SAMPLES:,} vs {small['stream']['peak_mb']:.1f}"
                                    f" MB at {min(results):,}")
    for f in failures:
        print(f"CHECK FAILED: {f}")
    if args.check and not failures:
        print("check: ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
