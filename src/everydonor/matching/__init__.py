"""Donor-recipient compatibility (pure). This version: HLA by locus and direction, ABO, CMV,
sex. DSA, KIR ligands and the ``everydonor match`` command follow (issue 4)."""
