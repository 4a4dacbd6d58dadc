"""Property: simulated families are never answered wrongly, and fully typed non-recombinant
families are recovered exactly (families drawn from the WMDA set-3 haplotype frequencies)."""

from tests.family.simulate import run


def test_simulated_families(reducer) -> None:  # type: ignore[no-untyped-def]
    tally = run(60, seed=2026, reducer=reducer)
    assert tally.wrong == []
    assert tally.flag_misattributed == []
    assert tally.full_nonrecomb_families > 5
    assert tally.full_nonrecomb_exact == tally.full_nonrecomb_families
    assert tally.siblings > 100 and tally.determined >= 0.7 * tally.siblings


def test_simulated_families_high_recombination(reducer) -> None:  # type: ignore[no-untyped-def]
    """A tenfold recombination rate stresses the crossover search: still never wrong."""
    tally = run(12, seed=7, reducer=reducer, recombination=0.2)
    assert tally.recombinant_families > 6
    assert tally.wrong == []
    assert len(tally.flag_misattributed) <= 2
