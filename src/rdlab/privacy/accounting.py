"""Composition of differentially private mechanisms over rounds and users.

All numbers come from Google's ``dp_accounting`` library (tested with 0.6.0):

- ``kind="pld"`` (default): privacy loss distributions
  (:mod:`dp_accounting.pld.privacy_loss_distribution`) with pessimistic discretization,
  so the reported ε is an upper bound that is tight up to the discretization interval
  (default 1e-3 nats per mechanism before composition).
- ``kind="rdp"``: :class:`dp_accounting.rdp.RdpAccountant` (Rényi DP over its default
  orders): faster for huge counts, looser.

The PLD kind composes the library's PLD objects directly instead of going through
:class:`dp_accounting.pld.PLDAccountant`, for two reasons: (1) mechanisms known only by an
(ε, δ) statement (:meth:`Accountant.add_guarantee`) have no ``DpEvent``, but have a PLD
(``from_privacy_parameters``); (2) ``PLDAccountant.compose`` in dp_accounting 0.6.0
ignores ``count`` for ``RandomizedResponseDpEvent`` (verified: 10 compositions report the
ε of one), which :meth:`PrivacyLossDistribution.self_compose` does not. For the Gaussian,
Laplace and Poisson-subsampled Gaussian the construction is the one ``PLDAccountant``
uses, and the tests check that both give the same ε.

Why dp_accounting and not Microsoft's prv-accountant (checked on the package index: its
newest release is 0.2.0, a wheel built 2022-08-24, requiring unpinned numpy and scipy):
dp_accounting is maintained by Google's differential-privacy team, offers both PLD and
RDP accounting behind one event vocabulary, has Poisson-subsampled Gaussian events
(needed for client-sampled Gaussian mechanisms such as CSGM) and randomized-response
events (prv-accountant 0.2.0 lists Gaussian, Poisson-subsampled Gaussian, Laplace and
pure/approximate-DP mechanisms, no randomized response), and it is installed and
imports cleanly here with NumPy 2.4. prv-accountant was not installed or tested with
NumPy 2.

Units: ε in nats, δ a probability; noise multiplier = Gaussian noise std / L2
sensitivity; Laplace ``scale_over_l1_sensitivity`` = Laplace scale b / L1 sensitivity
(both dimensionless). A ``count`` is the number of times the same mechanism reads the
same individual's data: the number of rounds when each individual is one record (or
one user, for user-level DP), rounds × users when one individual's data enters every
user's release.

Neighbouring relation: ``"add_or_remove"`` (default; one record added or removed, the
usual relation of DP-SGD and central Gaussian aggregation) or ``"replace_special"`` (one
record replaced by a fixed "null" record). Gaussian, Laplace and Poisson-subsampled
Gaussian give the same numbers under both; randomized response is only defined by
dp_accounting under ``"replace_special"`` (a respondent cannot be "absent" from a
randomized response). Statements given to :meth:`Accountant.add_guarantee` are taken to
hold under the accountant's relation.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import dp_accounting
from dp_accounting import dp_event
from dp_accounting.pld import common as pld_common
from dp_accounting.pld import privacy_loss_distribution as pld_lib
from dp_accounting.privacy_accountant import NeighboringRelation

from ..errors import InputError
from .guarantees import (
    ApproxDP,
    PureDP,
    _check_delta,
    _check_epsilon,
    _check_positive,
    _real,
    gaussian_epsilon,
    gaussian_noise_multiplier,
)

__all__ = ["Accountant", "calibrate_gaussian", "central_gaussian_epsilon"]

_KINDS = ("pld", "rdp")
_RELATIONS = {
    "add_or_remove": NeighboringRelation.ADD_OR_REMOVE_ONE,
    "replace_special": NeighboringRelation.REPLACE_SPECIAL,
}
#: Relative tolerance of :func:`calibrate_gaussian` (final bracket hi/lo − 1).
CALIBRATION_RTOL = 1e-3
_MAX_BRACKET_STEPS = 40
#: Smallest noise multiplier :func:`calibrate_gaussian` searches.
_MIN_NOISE_MULTIPLIER = 0.1
_MAX_BISECTIONS = 60


def _check_count(count: Any) -> int:
    if isinstance(count, bool):
        raise InputError("count", f"must be an integer >= 1, got {count!r}")
    try:
        n = operator.index(count)
    except TypeError:
        raise InputError("count", f"must be an integer >= 1, got {count!r}") from None
    if n < 1:
        raise InputError("count", f"must be >= 1, got {n}")
    return n


def _check_rate(sampling_rate: Any) -> float:
    q = _real("sampling_rate", sampling_rate)
    if not 0.0 < q <= 1.0:
        raise InputError("sampling_rate", f"must be in (0, 1], got {q}")
    return q


class Accountant:
    """Running composition of DP mechanisms (all on the same dataset).

    Add mechanisms with the ``add_*`` methods (each returns ``self``), then read the
    composed privacy with :meth:`epsilon`, :meth:`delta` or :meth:`guarantee`.

    Args:
        kind: ``"pld"`` (privacy loss distributions, tight) or ``"rdp"`` (Rényi DP).
        value_discretization_interval: PLD grid step in nats (``"pld"`` only; smaller is
            tighter and slower). Must be > 0.
        neighboring_relation: ``"add_or_remove"`` or ``"replace_special"`` (see the
            module docstring).

    Raises:
        InputError: an unknown ``kind`` or relation, or a bad interval.
    """

    def __init__(
        self,
        *,
        kind: str = "pld",
        value_discretization_interval: float = 1e-3,
        neighboring_relation: str = "add_or_remove",
    ) -> None:
        if kind not in _KINDS:
            raise InputError("kind", f"must be one of {', '.join(_KINDS)}, got {kind!r}")
        if neighboring_relation not in _RELATIONS:
            raise InputError(
                "neighboring_relation",
                f"must be one of {', '.join(_RELATIONS)}, got {neighboring_relation!r}",
            )
        self._kind = kind
        self._interval = _check_positive(
            "value_discretization_interval", value_discretization_interval
        )
        self._relation_name = neighboring_relation
        self._relation = _RELATIONS[neighboring_relation]
        self._events: list[dict[str, Any]] = []
        if kind == "pld":
            self._pld = pld_lib.identity(value_discretization_interval=self._interval)
        else:
            self._rdp = dp_accounting.rdp.RdpAccountant(neighboring_relation=self._relation)

    @property
    def kind(self) -> str:
        """``"pld"`` or ``"rdp"``."""
        return self._kind

    # ----------------------------------------------------------------- mechanisms

    def _compose_rdp(self, event: dp_event.DpEvent, count: int, argument: str) -> None:
        if not self._rdp.supports(event):
            raise InputError(argument, f"the RDP accountant cannot compose {event}")
        self._rdp.compose(event, count)

    def _compose_pld(self, pld: pld_lib.PrivacyLossDistribution) -> None:
        self._pld = self._pld.compose(pld)

    def add_gaussian(self, noise_multiplier: float, count: int = 1) -> Accountant:
        """Compose ``count`` Gaussian mechanisms (std = noise_multiplier × L2 sensitivity).

        Args:
            noise_multiplier: noise std / L2 sensitivity (dimensionless), > 0.
            count: number of compositions, >= 1.

        Returns:
            ``self``.

        Raises:
            InputError: a bad argument.
        """
        s = _check_positive("noise_multiplier", noise_multiplier)
        n = _check_count(count)
        if self._kind == "pld":
            # k Gaussians of std s compose exactly to one of std s/√k.
            self._compose_pld(
                pld_lib.from_gaussian_mechanism(
                    standard_deviation=s / math.sqrt(n),
                    value_discretization_interval=self._interval,
                    neighboring_relation=self._relation,
                )
            )
        else:
            self._compose_rdp(dp_event.GaussianDpEvent(s), n, "noise_multiplier")
        self._events.append({"mechanism": "gaussian", "noise_multiplier": s, "count": n})
        return self

    def add_laplace(self, scale_over_l1_sensitivity: float, count: int = 1) -> Accountant:
        """Compose ``count`` Laplace mechanisms; each alone is (1/scale_over_l1_sensitivity)-DP.

        Args:
            scale_over_l1_sensitivity: Laplace scale b / L1 sensitivity (dimensionless),
                > 0.
            count: number of compositions, >= 1.

        Returns:
            ``self``.

        Raises:
            InputError: a bad argument.
        """
        b = _check_positive("scale_over_l1_sensitivity", scale_over_l1_sensitivity)
        n = _check_count(count)
        if self._kind == "pld":
            pld = pld_lib.from_laplace_mechanism(
                parameter=b, value_discretization_interval=self._interval
            )
            self._compose_pld(pld.self_compose(n) if n > 1 else pld)
        else:
            self._compose_rdp(dp_event.LaplaceDpEvent(b), n, "scale_over_l1_sensitivity")
        self._events.append({"mechanism": "laplace", "scale_over_l1_sensitivity": b, "count": n})
        return self

    def add_subsampled_gaussian(
        self, sampling_rate: float, noise_multiplier: float, count: int = 1
    ) -> Accountant:
        """Compose ``count`` Gaussian mechanisms on Poisson-subsampled data.

        Each record (or user) takes part in a round independently with probability
        ``sampling_rate``; the round then releases a Gaussian-noised sum.

        Args:
            sampling_rate: Poisson sampling probability q in (0, 1].
            noise_multiplier: noise std / L2 sensitivity (dimensionless), > 0.
            count: number of rounds, >= 1.

        Returns:
            ``self``.

        Raises:
            InputError: a bad argument.
        """
        q = _check_rate(sampling_rate)
        s = _check_positive("noise_multiplier", noise_multiplier)
        n = _check_count(count)
        if self._kind == "pld":
            pld = pld_lib.from_gaussian_mechanism(
                standard_deviation=s,
                value_discretization_interval=self._interval,
                sampling_prob=q,
                neighboring_relation=self._relation,
            )
            self._compose_pld(pld.self_compose(n) if n > 1 else pld)
        else:
            event = dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(s))
            self._compose_rdp(event, n, "sampling_rate")
        self._events.append(
            {
                "mechanism": "subsampled_gaussian",
                "sampling_rate": q,
                "noise_multiplier": s,
                "count": n,
            }
        )
        return self

    def add_randomized_response(
        self, epsilon: float, num_buckets: int, count: int = 1
    ) -> Accountant:
        """Compose ``count`` k-ary randomized responses (needs ``"replace_special"``).

        The respondent reports the true bucket with probability e^ε / (e^ε + k − 1) and
        each other bucket with probability 1 / (e^ε + k − 1): ε-DP when one answer is
        replaced by another (dp_accounting's noise parameter p = k / (e^ε + k − 1)).
        Under ``"replace_special"`` (answer replaced by a uniformly random report) one
        response costs less than ε; the accountant reports that exact, smaller value.

        Args:
            epsilon: local ε of one response in nats, finite and > 0.
            num_buckets: k >= 2.
            count: number of compositions, >= 1.

        Returns:
            ``self``.

        Raises:
            InputError: a bad argument, or the relation is ``"add_or_remove"``.
        """
        eps = _check_epsilon(epsilon, allow_zero=False)
        try:
            k = operator.index(num_buckets)
        except TypeError:
            raise InputError("num_buckets", f"must be an integer, got {num_buckets!r}") from None
        if isinstance(num_buckets, bool) or k < 2:
            raise InputError("num_buckets", f"must be an integer >= 2, got {num_buckets!r}")
        n = _check_count(count)
        if self._relation_name != "replace_special":
            raise InputError(
                "neighboring_relation",
                "randomized response needs neighboring_relation='replace_special'",
            )
        # p = k / (e^ε + k − 1), written without overflow for large ε.
        p = k * math.exp(-eps) / (1.0 + (k - 1) * math.exp(-eps))
        if self._kind == "pld":
            pld = pld_lib.from_randomized_response(
                noise_parameter=p,
                num_buckets=k,
                value_discretization_interval=self._interval,
                neighboring_relation=self._relation,
            )
            self._compose_pld(pld.self_compose(n) if n > 1 else pld)
        else:
            self._compose_rdp(dp_event.RandomizedResponseDpEvent(p, k), n, "epsilon")
        self._events.append(
            {"mechanism": "randomized_response", "epsilon": eps, "num_buckets": k, "count": n}
        )
        return self

    def add_guarantee(self, g: PureDP | ApproxDP, count: int = 1) -> Accountant:
        """Compose ``count`` mechanisms known only by a DP statement.

        PLD: the worst-case PLD of an (ε, δ)-DP mechanism
        (``privacy_loss_distribution.from_privacy_parameters``); k pure ε-DP statements
        then never cost more than kε. RDP: a pure ε-DP mechanism is composed as
        (ε²/2)-zCDP (Bun & Steinke 2016), which is loose for few compositions;
        approximate statements have no RDP bound and are refused.

        Args:
            g: a :class:`PureDP` or :class:`ApproxDP` statement.
            count: number of compositions, >= 1.

        Returns:
            ``self``.

        Raises:
            InputError: ``g`` is not a statement, ``count`` is bad, or ``g`` is an
                :class:`ApproxDP` given to the RDP accountant.
        """
        if not isinstance(g, (PureDP, ApproxDP)):
            raise InputError("g", f"must be PureDP or ApproxDP, got {type(g).__name__}")
        n = _check_count(count)
        if self._kind == "pld":
            params = pld_common.DifferentialPrivacyParameters(g.epsilon, g.delta)
            pld = pld_lib.from_privacy_parameters(
                params, value_discretization_interval=self._interval
            )
            self._compose_pld(pld.self_compose(n) if n > 1 else pld)
        elif isinstance(g, ApproxDP):
            raise InputError("g", f"the RDP accountant cannot compose {g}; use kind='pld'")
        else:
            event = dp_event.ZCDpEvent(rho=g.epsilon**2 / 2.0, xi=0.0)
            self._compose_rdp(event, n, "g")
        self._events.append({"mechanism": "guarantee", "guarantee": g.to_json(), "count": n})
        return self

    # ----------------------------------------------------------------- queries

    def epsilon(self, delta: float) -> float:
        """Smallest ε (nats) for which the composition is (ε, δ)-DP (an upper bound).

        Args:
            delta: δ in (0, 1).

        Returns:
            ε >= 0; ``math.inf`` when no finite ε works at this δ (e.g. δ below the
            total δ of composed :class:`ApproxDP` statements). 0.0 with nothing composed.

        Raises:
            InputError: ``delta`` is not in (0, 1).
        """
        d = _check_delta(delta)
        if not self._events:
            return 0.0
        if self._kind == "pld":
            eps = float(self._pld.get_epsilon_for_delta(d))
        else:
            eps = float(self._rdp.get_epsilon(d))
        return max(eps, 0.0)

    def delta(self, epsilon: float) -> float:
        """Smallest δ for which the composition is (ε, δ)-DP (an upper bound).

        Args:
            epsilon: ε in nats, finite and >= 0.

        Returns:
            δ in [0, 1]; 0.0 with nothing composed.

        Raises:
            InputError: ``epsilon`` is negative, NaN or infinite.
        """
        eps = _check_epsilon(epsilon, allow_zero=True)
        if not self._events:
            return 0.0
        if self._kind == "pld":
            d = float(self._pld.get_delta_for_epsilon(eps))
        else:
            d = float(self._rdp.get_delta(eps))
        return min(max(d, 0.0), 1.0)

    def guarantee(self, delta: float) -> ApproxDP:
        """The composed statement ``ApproxDP(self.epsilon(delta), delta)``.

        Raises:
            InputError: ``delta`` is not in (0, 1), or no finite ε holds at this δ.
        """
        eps = self.epsilon(delta)
        if not math.isfinite(eps):
            raise InputError("delta", f"no finite epsilon holds at delta={delta}")
        return ApproxDP(eps, delta)

    def to_json(self) -> dict[str, Any]:
        """The configuration and the composed mechanisms, in the order they were added.

        Returns:
            ``{"kind", "neighboring_relation", "value_discretization_interval",
            "events": [{"mechanism": ..., <parameters>, "count": n}, ...]}``.
        """
        return {
            "kind": self._kind,
            "neighboring_relation": self._relation_name,
            "value_discretization_interval": self._interval,
            "events": [dict(e) for e in self._events],
        }


def central_gaussian_epsilon(noise_multiplier: float, delta: float, rounds: int = 1) -> float:
    """ε (nats) of ``rounds`` compositions of the Gaussian mechanism, exactly.

    Uses the exact identity that k Gaussian mechanisms of multiplier s compose to one of
    multiplier s/√k (their privacy loss distributions are Gaussian and add), then
    :func:`rdlab.privacy.guarantees.gaussian_epsilon` (relative tolerance 1e-10). No
    discretization error, unlike the PLD accountant.

    Args:
        noise_multiplier: noise std / L2 sensitivity (dimensionless), > 0.
        delta: δ in (0, 1).
        rounds: number of compositions, >= 1.

    Returns:
        ε >= 0.

    Raises:
        InputError: a bad argument (named ``"rounds"`` for a bad round count).
    """
    s = _check_positive("noise_multiplier", noise_multiplier)
    d = _check_delta(delta)
    try:
        k = _check_count(rounds)
    except InputError as err:
        raise InputError("rounds", err.problem) from None
    return gaussian_epsilon(s / math.sqrt(k), d)


def calibrate_gaussian(
    epsilon: float,
    delta: float,
    rounds: int = 1,
    sampling_rate: float = 1.0,
    *,
    kind: str = "pld",
) -> float:
    """Smallest noise multiplier keeping ``rounds`` (subsampled) Gaussians within (ε, δ).

    Bisection in log s on ``Accountant(kind=kind)`` with ``add_gaussian`` (when
    ``sampling_rate == 1``) or ``add_subsampled_gaussian``. The exact unsubsampled
    answer √rounds · gaussian_noise_multiplier(ε, δ) starts the bracket; the bracket is
    widened by factors of 2 at most 40 times each way (never below a multiplier of 0.1),
    then bisected in log s until hi/lo − 1 <= 1e-3 (at most 60 steps). The returned
    value is the bracket's upper end, for which the accountant's ε is <= ``epsilon``;
    where the accountant's ε decreases in s (as it does, up to discretization), it
    exceeds the smallest such multiplier by at most a relative 1e-3.

    Args:
        epsilon: target ε in nats, finite and > 0.
        delta: target δ in (0, 1).
        rounds: number of compositions, >= 1.
        sampling_rate: Poisson sampling probability in (0, 1].
        kind: ``"pld"`` or ``"rdp"``.

    Returns:
        The noise multiplier s = noise std / L2 sensitivity.

    Raises:
        InputError: a bad argument, or the answer lies outside the searched range:
            below 0.1 (the target is met with almost no noise: one unsubsampled round at
            multiplier 0.1 already costs ε ≈ 49 nats at δ = 0.5, 92 at δ = 1e-5), or δ is at
            least the chance 1 − (1 − q)^rounds that a record is ever sampled), or above
            2^40 times the start.
    """
    eps = _check_epsilon(epsilon, allow_zero=False)
    d = _check_delta(delta)
    try:
        k = _check_count(rounds)
    except InputError as err:
        raise InputError("rounds", err.problem) from None
    q = _check_rate(sampling_rate)
    if kind not in _KINDS:
        raise InputError("kind", f"must be one of {', '.join(_KINDS)}, got {kind!r}")

    def within(s: float) -> bool:
        acc = Accountant(kind=kind)
        if q == 1.0:
            acc.add_gaussian(s, count=k)
        else:
            acc.add_subsampled_gaussian(q, s, count=k)
        return acc.epsilon(d) <= eps

    guess = math.sqrt(k) * gaussian_noise_multiplier(eps, d)
    lo = hi = guess
    if within(guess):
        # Widen downwards, never below _MIN_NOISE_MULTIPLIER: PLDs of tiny multipliers
        # span huge privacy losses and cost time and memory without bound.
        for _ in range(_MAX_BRACKET_STEPS):
            if hi <= _MIN_NOISE_MULTIPLIER:
                lo = hi
                break
            lo = max(hi / 2.0, _MIN_NOISE_MULTIPLIER)
            if not within(lo):
                break
            hi = lo
        if lo == hi:
            raise InputError(
                "epsilon",
                f"({eps}, {d}) is met by noise multipliers below {_MIN_NOISE_MULTIPLIER} "
                "(outside the searched range: almost no noise is needed)",
            )
    else:
        for _ in range(_MAX_BRACKET_STEPS):
            hi = lo * 2.0
            if within(hi):
                break
            lo = hi
        else:
            raise InputError(
                "epsilon",
                f"({eps}, {d}) not reached with noise multiplier up to {hi:.3g} "
                "(target below the accountant's resolution?)",
            )
    for _ in range(_MAX_BISECTIONS):
        if hi / lo - 1.0 <= CALIBRATION_RTOL:
            break
        mid = math.sqrt(lo * hi)
        if within(mid):
            hi = mid
        else:
            lo = mid
    return hi
