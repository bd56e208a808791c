"""Trainable building blocks (PyTorch modules): GDN, latent densities, entropy models
that code (:mod:`rdlab.nn.entropy`), latent codecs (:mod:`rdlab.nn.latent_codecs`), the
hyperprior image model and its integer scale branch, the lattice quantizer, lattice
transform coding models."""

from .entropy import EntropyBottleneck, LatticeConditional, LocationScaleConditional
from .entropy_models import FactorizedDensity, gaussian_bin_likelihood
from .gdn import GDN, IGDN
from .image_model import HyperpriorImageModel, ImageModelConfig
from .integer_net import IntegerScaleNet
from .latent_codecs import FloatScaleBranch, HyperpriorLatentCodec
from .lattice_quantizer import LatticeQuantizer, parallelepiped_dither
from .ltc import LTCModel, ResidualMLP
from .mixture import GaussianMixtureDensity, tabulate_mixture

__all__ = [
    "GDN",
    "IGDN",
    "EntropyBottleneck",
    "FactorizedDensity",
    "FloatScaleBranch",
    "GaussianMixtureDensity",
    "HyperpriorImageModel",
    "HyperpriorLatentCodec",
    "ImageModelConfig",
    "IntegerScaleNet",
    "LTCModel",
    "LatticeConditional",
    "LatticeQuantizer",
    "LocationScaleConditional",
    "ResidualMLP",
    "gaussian_bin_likelihood",
    "parallelepiped_dither",
    "tabulate_mixture",
]
