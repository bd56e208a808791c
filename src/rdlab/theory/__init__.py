"""Rate-distortion theory: closed forms, the Shannon lower bound, Blahut–Arimoto,
entropy-constrained quantizer baselines, lattice figures of merit, REC bounds and the
rate–distortion–perception function of Gaussian sources (:mod:`.rdp`).

Units: rates in bits per dimension, distortion = MSE per dimension (unless a function
says otherwise).
"""

from .blahut_arimoto import (
    BAResult,
    bin_samples,
    blahut_arimoto,
    blahut_arimoto_grid,
    blahut_arimoto_grid_2d,
    slopes_for_distortions,
)
from .closed_form import (
    ar1_eigenvalues,
    ar1_rd,
    ar1_spectral_density,
    binary_entropy,
    binary_rd,
    gaussian_differential_entropy,
    gaussian_dr,
    gaussian_rd,
    gaussian_vector_rd,
    laplace_differential_entropy,
    reverse_water_filling,
    shannon_lower_bound,
    slb_gaussian,
    slb_laplace,
    slb_uniform,
    uniform_differential_entropy,
)
from .lattice import (
    KNOWN_G,
    high_rate_gap_bits,
    high_rate_gap_db,
    normalized_second_moment,
    normalized_second_moment_mc,
)
from .quantizers import (
    QuantizerPoint,
    ecsq,
    ecsq_sweep,
    ecvq,
    ecvq_sweep,
    uniform_scalar_quantizer,
)
from .rdp import (
    GaussianChannel,
    gaussian_rdp,
    gaussian_rdp_w2,
    gaussian_test_channel,
    gaussian_vector_rdp,
)
from .rec import (
    bb_gprs_steps_bound,
    global_steps,
    gprs_bound,
    kl_log_bound,
    pfr_bound,
    ppr_bound,
    ppr_log_index_bound,
)

__all__ = [
    "KNOWN_G",
    "BAResult",
    "GaussianChannel",
    "QuantizerPoint",
    "ar1_eigenvalues",
    "ar1_rd",
    "ar1_spectral_density",
    "bb_gprs_steps_bound",
    "bin_samples",
    "binary_entropy",
    "binary_rd",
    "blahut_arimoto",
    "blahut_arimoto_grid",
    "blahut_arimoto_grid_2d",
    "ecsq",
    "ecsq_sweep",
    "ecvq",
    "ecvq_sweep",
    "gaussian_differential_entropy",
    "gaussian_dr",
    "gaussian_rd",
    "gaussian_rdp",
    "gaussian_rdp_w2",
    "gaussian_test_channel",
    "gaussian_vector_rd",
    "gaussian_vector_rdp",
    "global_steps",
    "gprs_bound",
    "high_rate_gap_bits",
    "high_rate_gap_db",
    "kl_log_bound",
    "laplace_differential_entropy",
    "normalized_second_moment",
    "normalized_second_moment_mc",
    "pfr_bound",
    "ppr_bound",
    "ppr_log_index_bound",
    "reverse_water_filling",
    "shannon_lower_bound",
    "slb_gaussian",
    "slb_laplace",
    "slb_uniform",
    "slopes_for_distortions",
    "uniform_differential_entropy",
    "uniform_scalar_quantizer",
]
