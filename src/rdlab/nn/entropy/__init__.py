"""Entropy models as PyTorch modules, each owning its whole life (the idea of
tensorflow-compression's ``ContinuousBatchedEntropyModel``; the names CompressAI users
know):

* ``forward(y, ..., training_proxy=...)`` → ``(y_hat, bits)``: the training proxy
  (noise, straight-through, both, or none: :mod:`rdlab.nn.entropy.base`) and the rate of
  each element in bits;
* deterministic integer tables for the decoder, from :mod:`rdlab.coding` (built once by
  ``update()`` and stored with the module's ``state_dict``, or fixed by the family);
* ``compress(...) -> bytes`` and ``decompress(bytes, ...)``: real range-coded streams,
  whose ends decoders check.

Modules:

* :class:`EntropyBottleneck`: a learned density per channel (factorized prior);
* :class:`LocationScaleConditional`: Gaussian, Laplace or logistic given a mean and an
  indexed scale per element;
* :class:`LatticeConditional`: latent vectors on a lattice (E8, D4, ...) given their
  means and scales.

They compose into latent codecs: :mod:`rdlab.nn.latent_codecs`.
"""

from .base import TRAINING_PROXIES, CodingState, TrainingProxy, ste_round
from .bottleneck import EntropyBottleneck
from .conditional import LocationScaleConditional
from .lattice import LatticeConditional

__all__ = [
    "TRAINING_PROXIES",
    "CodingState",
    "EntropyBottleneck",
    "LatticeConditional",
    "LocationScaleConditional",
    "TrainingProxy",
    "ste_round",
]
