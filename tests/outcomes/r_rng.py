"""R's random numbers of 2001, rebuilt so that published R output made from them can be checked.

cmprsk's own regression test (``tests/test.R`` with its saved output ``tests/test.Rout.save``,
R 1.2.1) draws its data with ``set.seed(2); ss <- rexp(100); gg <- sample(1:3, 100, replace=T);
cc <- sample(0:2, 100, replace=T); strt <- sample(1:2, 100, replace=T)``. R before 1.7.0 used
the Marsaglia-Multicarry uniform generator by default (today's ``tests/test.R`` pins it with
``RNGversion("1.6.2")``, https://rdrr.io/cran/cmprsk/src/tests/test.R); this module implements,
from the published descriptions of the algorithms:

* ``set.seed(seed)``: the seed scrambled by 50 steps of the congruential map
  s ← 69069 s + 1 (mod 2³²), then one step per state word (R's RNG_Init);
* Marsaglia-Multicarry: I1 ← 36969 (I1 mod 2¹⁶) + ⌊I1/2¹⁶⌋, I2 ← 18000 (I2 mod 2¹⁶) +
  ⌊I2/2¹⁶⌋, u = ((I1·2¹⁶) xor (I2 mod 2¹⁶)) / (2³² − 1), kept inside (0, 1);
* ``rexp``: Ahrens & Dieter (1972) algorithm SA (Commun ACM 15:873-882), with
  q_k = Σ_{i≤k} (ln 2)^i / i!;
* ``sample(x, n, replace=TRUE)`` before R 3.6.0: index ⌊n·u⌋ + 1.

That the test data come out right is checked by the test itself: the Aalen-Johansen estimates
printed in the same saved output are reproduced to all printed digits.
"""

from __future__ import annotations

import math

_MASK = 0xFFFFFFFF
_I2_32M1 = 2.328306437080797e-10  # 1 / (2^32 - 1)


def _q_table() -> list[float]:
    table: list[float] = []
    total = 0.0
    for k in range(1, 30):
        total += math.log(2.0) ** k / math.factorial(k)
        table.append(total)
    return table


_Q = _q_table()


class MarsagliaMulticarry:
    """``RNGkind("Marsaglia-Multicarry"); set.seed(seed)``."""

    def __init__(self, seed: int) -> None:
        s = seed & _MASK
        for _ in range(50):
            s = (69069 * s + 1) & _MASK
        words = []
        for _ in range(2):
            s = (69069 * s + 1) & _MASK
            words.append(s or 1)
        self.i1, self.i2 = words

    def unif(self) -> float:
        self.i1 = (36969 * (self.i1 & 0xFFFF) + (self.i1 >> 16)) & _MASK
        self.i2 = (18000 * (self.i2 & 0xFFFF) + (self.i2 >> 16)) & _MASK
        u = (((self.i1 << 16) & _MASK) ^ (self.i2 & 0xFFFF)) * _I2_32M1
        return min(max(u, 0.5 * _I2_32M1), 1.0 - 0.5 * _I2_32M1)

    def exp(self) -> float:
        """One standard exponential (algorithm SA)."""
        a = 0.0
        u = self.unif()
        while True:
            u += u
            if u > 1.0:
                break
            a += _Q[0]
        u -= 1.0
        if u <= _Q[0]:
            return a + u
        i = 0
        umin = self.unif()
        while True:
            umin = min(umin, self.unif())
            i += 1
            if u <= _Q[i]:
                return a + umin * _Q[0]

    def sample(self, values: list[int], n: int) -> list[int]:
        return [values[int(len(values) * self.unif())] for _ in range(n)]
