"""Trainable building blocks (PyTorch modules): latent densities, the lattice quantizer,
lattice transform coding models."""

from .lattice_quantizer import LatticeQuantizer, parallelepiped_dither
from .ltc import LTCModel, ResidualMLP
from .mixture import GaussianMixtureDensity, tabulate_mixture

__all__ = [
    "GaussianMixtureDensity",
    "LTCModel",
    "LatticeQuantizer",
    "ResidualMLP",
    "parallelepiped_dither",
    "tabulate_mixture",
]
