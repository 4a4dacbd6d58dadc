"""A tiny hand-made release, small enough to check every expectation by eye.

Locus A only. G group A*01:01:01G = {A*01:01:01:01, A*01:01:01:02N, A*01:04:01:01N, A*01:22N};
G group A*02:10:01G whose first member is A*02:07:01 (so its lgx is A*02:07, the NMDP "lg"
naming); A*01:01:02 is outside every G group but in P group A*01:01P; A*01:11N and A*01:52:01N /
A*01:52:02N are ungrouped nulls (A*01:52N is a null-only 2-field name). B and DRB1 give
serology: B*44:02:01:01 is B44 (a split of broad B12), DRB1*03:01:01:01 is DR17 (split of DR3).
"""

from everydonor.hla.reference import HlaReference, build_reference

ALLELES = [
    "A*01:01:01:01", "A*01:01:01:02N", "A*01:01:02", "A*01:04:01:01N", "A*01:22N", "A*01:11N",
    "A*01:52:01N", "A*01:52:02N", "A*02:07:01", "A*02:10:01", "A*02:10:02",
    "B*44:02:01:01", "B*44:03:01", "B*45:01:01", "DRB1*03:01:01:01", "DRB1*03:02:01",
    "DPB1*04:01:01:01", "E*01:01:01:01",
]
G_ROWS = [
    ("A*", "01:01:01:01/01:01:01:02N/01:04:01:01N/01:22N", "01:01:01G"),
    ("A*", "01:01:02", ""),
    ("A*", "02:07:01/02:10:01", "02:10:01G"),
    ("A*", "02:10:02", ""),
    ("B*", "44:02:01:01", "44:02:01G"),
    ("DRB1*", "03:01:01:01", "03:01:01G"),
]
P_ROWS = [
    ("A*", "01:01:01:01/01:01:02", "01:01P"),
    ("A*", "02:07:01/02:10:01/02:10:02", "02:07P"),
    ("B*", "44:02:01:01", "44:02P"),
]
SEROLOGY_ROWS = [
    ("A*", "01:01:01:01", "1", "", "", ""),
    ("A*", "01:01:01:02N", "0", "", "", ""),
    ("A*", "01:01:02", "1", "", "", ""),
    ("A*", "02:07:01", "", "2/19", "", ""),
    ("B*", "44:02:01:01", "44", "", "", ""),
    ("B*", "44:03:01", "44", "", "", "", "44"),  # a 7-column (>= 3.64) row loads as well
    ("B*", "45:01:01", "45", "", "", ""),
    ("DRB1*", "03:01:01:01", "17", "", "", ""),
    ("DRB1*", "03:02:01", "", "", "18", ""),
    ("DPB1*", "04:01:01:01", "?", "", "", ""),
]
SER_SER_ROWS = [("B", "12", "44/45", ""), ("DR", "3", "17/18", ""), ("A", "2", "", "203/210")]


def tiny_reference() -> HlaReference:
    return build_reference(
        release="0.0.1-tiny",
        allele_names=ALLELES,
        g_rows=G_ROWS,
        p_rows=P_ROWS,
        serology_rows=SEROLOGY_ROWS,
        ser_ser_rows=SER_SER_ROWS,
        deleted={"A*01:99": "Sequence shown to be identical to A*01:01:01:01 (2001)"},
    )
