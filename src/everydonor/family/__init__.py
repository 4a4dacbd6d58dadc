"""Family HLA haplotypes: segregation and every relative's relation to the patient (pure)."""
