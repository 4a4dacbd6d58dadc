"""everydonor: the Beijing Protocol of haploidentical transplantation, as software.

Decision support for the treating transplant team; every clinical answer records the software
version, the IPD-IMGT/HLA release and the rule set it used.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
