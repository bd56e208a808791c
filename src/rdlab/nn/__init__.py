"""Trainable building blocks (PyTorch modules): GDN, latent densities, the hyperprior
image model and its integer scale branch, the lattice quantizer, lattice transform
coding models."""

from .entropy_models import FactorizedDensity, gaussian_bin_likelihood
from .gdn import GDN, IGDN
from .image_model import HyperpriorImageModel, ImageModelConfig
from .integer_net import IntegerScaleNet
from .lattice_quantizer import LatticeQuantizer, parallelepiped_dither
from .ltc import LTCModel, ResidualMLP
from .mixture import GaussianMixtureDensity, tabulate_mixture

__all__ = [
    "GDN",
    "IGDN",
    "FactorizedDensity",
    "GaussianMixtureDensity",
    "HyperpriorImageModel",
    "ImageModelConfig",
    "IntegerScaleNet",
    "LTCModel",
    "LatticeQuantizer",
    "ResidualMLP",
    "gaussian_bin_likelihood",
    "parallelepiped_dither",
    "tabulate_mixture",
]
