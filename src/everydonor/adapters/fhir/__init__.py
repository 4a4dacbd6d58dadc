"""FHIR R4 export and import (``everydonor fhir export|import``).

* :mod:`.codes`: every system, code and display the bundle uses, each with where it comes from;
  what has no code we are sure of is in a local CodeSystem under ``urn:everydonor:fhir``.
* :mod:`.export`: a registry patient → a transplant summary Bundle (HLA genotype Observations
  shaped after the NMDP ``nmdp-hla-genotype`` profile, donors, match, HCT, conditioning, GVHD
  prophylaxis, outcomes), consent-gated like the research exports, audited.
* :mod:`.reader`: a Bundle → the typings of the patient and each donor (checked, naming resource,
  field and value) → a case document or a new registry patient, audited.
* :mod:`.checks`: the project's own checks (GL String Code invariant, LOINC codes, HGNC gene ids)
  and the structural validation of every resource against the ``fhir.resources`` R4B models.
"""
