"""Target/proposal pairs shared by the exact-sampler tests (PFR and global GPRS)."""

from __future__ import annotations

from scipy import stats

from rdlab.rec.distributions import Gaussian, Triangular, Uniform

ALPHA = 1e-3  # KS significance level
SEEDS = 2000

# (target, proposal, target CDF on the first coordinate)
PAIRS = {
    # KL 2.70 bits, D_inf 3.52 bits (r_max 11.5)
    "gauss": (Gaussian(1.5, 0.3), Gaussian(0.0, 1.0), stats.norm(1.5, 0.3).cdf),
    # KL 5.49 bits, D_inf 6.24 bits (r_max 75.4); the proposal is not standard
    "gauss5": (Gaussian(6.0, 0.2), Gaussian(2.0, 2.0), stats.norm(6.0, 0.2).cdf),
    # KL 2.28 bits, D_inf 3 bits (r_max 8)
    "triangular": (
        Triangular(0.2, 0.3, 0.45),
        Uniform(0.0, 1.0),
        stats.triang(0.1 / 0.25, 0.2, 0.25).cdf,
    ),
    # KL = D_inf = log2 5 bits
    "uniform": (Uniform(0.1, 0.3), Uniform(0.0, 1.0), stats.uniform(0.1, 0.2).cdf),
}
