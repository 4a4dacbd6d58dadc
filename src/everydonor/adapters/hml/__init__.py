"""HML 1.0.x (NMDP Histoimmunogenetics Markup Language) import: a safe streaming reader
(:mod:`.reader`), MIRING checks by the NMDP validator's rule ids (:mod:`.miring`), and the
import into a case file or the registry as GL String Codes (:mod:`.importer`)."""
