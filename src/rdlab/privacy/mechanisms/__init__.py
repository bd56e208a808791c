"""Local randomizers that rdlab's REC samplers send exactly, and their registry.

==========================  =====================  =====================  ===============
name                        input domain           local guarantee        REC blocks
==========================  =====================  =====================  ===============
``gaussian``                L2 ball of radius C    (ε, δ), analytic       coordinate
``laplace``                 L1 ball of radius C    pure ε                 coordinate
``privunit``                unit ball (rounded)    pure ε                 one
``privunitg``               unit ball (rounded)    pure ε                 one
``randomized-response``     symbols 0..k-1         pure ε                 one
==========================  =====================  =====================  ===============

A new mechanism is a :class:`Mechanism` subclass in its own module and one line in
:data:`MECHANISMS`; the coder, the benchmark and the command line ask the registry.
"""

from __future__ import annotations

from typing import Any

from ...errors import InputError
from .base import Mechanism
from .gaussian import GaussianMechanism
from .laplace import LaplaceMechanism
from .privunit import PrivUnit, PrivUnitG
from .randomized_response import RandomizedResponse

__all__ = [
    "MECHANISMS",
    "GaussianMechanism",
    "LaplaceMechanism",
    "Mechanism",
    "PrivUnit",
    "PrivUnitG",
    "RandomizedResponse",
    "get_mechanism",
]

#: name -> mechanism class
MECHANISMS: dict[str, type[Mechanism]] = {
    cls.name: cls
    for cls in (GaussianMechanism, LaplaceMechanism, PrivUnit, PrivUnitG, RandomizedResponse)
}


def get_mechanism(name: str, **params: Any) -> Mechanism:
    """Build the registered mechanism ``name`` with ``params``.

    Raises:
        InputError: unknown name (the message lists the known ones) or bad parameters.
    """
    cls = MECHANISMS.get(name)
    if cls is None:
        raise InputError("mechanism", f"unknown {name!r}; known: {', '.join(sorted(MECHANISMS))}")
    return cls(**params)
