"""Relative entropy coding: send a sample of a target Q with a shared proposal P.

(Module layout filled in by the sampler modules; see the package docs.)
"""

from .distributions import Gaussian, Triangular, Uniform, dinf_bits, kl_bits, log_ratio
from .messages import IndexCode, Message

__all__ = [
    "Gaussian",
    "IndexCode",
    "Message",
    "Triangular",
    "Uniform",
    "dinf_bits",
    "kl_bits",
    "log_ratio",
]
