"""Private compression: differentially private mechanisms sent exactly by relative
entropy coding, with privacy accounting and distributed mean estimation.

- :mod:`.guarantees`: DP statements (:class:`PureDP`, :class:`ApproxDP`) and the
  Gaussian mechanism's exact (analytic) calibration.
- :mod:`.accounting`: composition over rounds and users through Google's
  ``dp-accounting`` (:class:`Accountant`).
- :mod:`.mechanisms`: local randomizers (Gaussian, Laplace, PrivUnit, PrivUnitG,
  randomized response) as targets for :mod:`rdlab.rec` samplers, in one registry.
- :mod:`.coding`: PPR messages for one client or a whole round, and what the message
  guarantees (:func:`message_guarantee`).
- :mod:`.dme`: the distributed-mean-estimation benchmark with its baselines.

Units: ε in nats, δ a probability; KL, message lengths and rates in bits (per client
unless said otherwise); MSE in squared data units (per vector, summed over coordinates).
"""

from .accounting import Accountant, calibrate_gaussian, central_gaussian_epsilon
from .coding import (
    CODERS,
    MessageGuarantee,
    PrivateMessage,
    RoundMessage,
    decode,
    decode_round,
    encode,
    encode_round,
    message_guarantee,
)
from .guarantees import (
    ApproxDP,
    PureDP,
    gaussian_delta,
    gaussian_epsilon,
    gaussian_noise_multiplier,
    laplace_scale,
)
from .mechanisms import (
    MECHANISMS,
    GaussianMechanism,
    LaplaceMechanism,
    Mechanism,
    PrivUnit,
    PrivUnitG,
    RandomizedResponse,
    get_mechanism,
)

__all__ = [
    "CODERS",
    "MECHANISMS",
    "Accountant",
    "ApproxDP",
    "GaussianMechanism",
    "LaplaceMechanism",
    "Mechanism",
    "MessageGuarantee",
    "PrivUnit",
    "PrivUnitG",
    "PrivateMessage",
    "PureDP",
    "RandomizedResponse",
    "RoundMessage",
    "calibrate_gaussian",
    "central_gaussian_epsilon",
    "decode",
    "decode_round",
    "encode",
    "encode_round",
    "gaussian_delta",
    "gaussian_epsilon",
    "gaussian_noise_multiplier",
    "get_mechanism",
    "laplace_scale",
    "message_guarantee",
]
