"""Body size for dosing: body-surface area and the weights a regimen may dose by.

Every function returns the value with the arithmetic that produced it, so an order can show how
its dose was reached.

- Mosteller: BSA (m²) = √(height cm × weight kg / 3600). Mosteller RD. N Engl J Med
  1987;317:1098.
- DuBois: BSA (m²) = 0.007184 × weight^0.425 × height^0.725. Du Bois D, Du Bois EF. Arch Intern
  Med 1916;17:863-871.
- Ideal body weight (Devine): 50 kg (men) or 45.5 kg (women) + 2.3 kg per inch over 5 feet.
  Devine BJ. Drug Intell Clin Pharm 1974;8:650-655.
- Adjusted body weight: ideal + factor × (actual − ideal); the factor is the regimen line's own
  (``adjusted_factor``), never a default here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

BSA_CITATIONS = {
    "mosteller": "Mosteller RD. N Engl J Med 1987;317:1098",
    "dubois": "Du Bois D, Du Bois EF. Arch Intern Med 1916;17:863-871",
}
DEVINE_CITATION = "Devine BJ. Drug Intell Clin Pharm 1974;8:650-655"


class BsaFormula(StrEnum):
    MOSTELLER = "mosteller"
    DUBOIS = "dubois"


@dataclass(frozen=True, slots=True)
class Computed:
    value: float
    arithmetic: str


def body_surface_area(weight_kg: float, height_cm: float,
                      formula: BsaFormula = BsaFormula.MOSTELLER) -> Computed:
    """>>> body_surface_area(80, 180).value
    2.0
    """
    if formula is BsaFormula.MOSTELLER:
        value = math.sqrt(height_cm * weight_kg / 3600.0)
        text = (f"Mosteller: √({height_cm:g} cm × {weight_kg:g} kg / 3600) = {value:.4f} m²")
    else:
        value = 0.007184 * weight_kg ** 0.425 * height_cm ** 0.725
        text = (f"DuBois: 0.007184 × {weight_kg:g}^0.425 × {height_cm:g}^0.725 = {value:.4f} m²")
    return Computed(value, text)


def ideal_body_weight(height_cm: float, male: bool) -> Computed:
    """Devine: 50 kg (men) / 45.5 kg (women) + 2.3 kg per inch above 60 inches."""
    inches = height_cm / 2.54
    base = 50.0 if male else 45.5
    value = base + 2.3 * (inches - 60.0)
    return Computed(value, f"Devine: {base:g} kg + 2.3 kg × ({height_cm:g} cm / 2.54 − 60 in) "
                           f"= {value:.2f} kg")


def adjusted_body_weight(actual_kg: float, ideal_kg: float, factor: float) -> Computed:
    value = ideal_kg + factor * (actual_kg - ideal_kg)
    return Computed(value, f"adjusted: {ideal_kg:.2f} + {factor:g} × ({actual_kg:g} − "
                           f"{ideal_kg:.2f}) = {value:.2f} kg")
