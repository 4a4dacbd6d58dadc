"""HLA nomenclature core: loci, alleles, typings at any resolution, GL strings, reductions.

Pure: no I/O. Reference tables (:class:`~everydonor.hla.reference.HlaReference`) are built by
``everydonor.adapters.reference.imgt`` from an IPD-IMGT/HLA release folder and passed in as a value.
"""
