"""rdlab.lattice: exact nearest points, triangular generators, codes, G, names, chunking."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from rdlab.errors import InputError
from rdlab.lattice import (
    Lattice,
    ProductLattice,
    available_lattices,
    get_lattice,
    golay_codewords,
    rm14_codewords,
)
from rdlab.lattice import base as lattice_base
from rdlab.theory.lattice import KNOWN_G

SMALL = ["z", "z^3", "a2", "a3", "d3", "d4", "d5", "d4*"]
ALL = [*SMALL, "e8", "bw16", "leech"]
#: typical spread of test points per lattice (native coordinates)
SPREAD = {"bw16": 2.0, "leech": 4.0}


def short_vectors(lattice: Lattice, bound: float) -> torch.Tensor:
    """All nonzero lattice vectors of squared norm <= bound (float64 (N, n)), enumerated
    level by level through the triangular generator (Fincke–Pohst) — independent of any
    decoder or code."""
    g = lattice.generator
    k = torch.zeros(1, 0, dtype=torch.float64)
    partial = torch.zeros(1, dtype=torch.float64)
    for j in range(lattice.dim):
        c = k @ g[:j, j] if j else torch.zeros(1, dtype=torch.float64)
        room = (bound - partial).clamp_min(0).sqrt() + 1e-9
        lo = torch.ceil((-room - c) / g[j, j])
        hi = torch.floor((room - c) / g[j, j])
        count = (hi - lo + 1).clamp_min(0).long()
        parent = torch.repeat_interleave(torch.arange(k.shape[0]), count)
        start = torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
        kj = lo[parent] + torch.arange(parent.numel()) - start
        xj = c[parent] + kj * g[j, j]
        k = torch.cat([k[parent], kj[:, None]], 1)
        partial = partial[parent] + xj * xj
    points = lattice.points(k.long())
    return points[(points != 0).any(-1)]


@functools.cache
def leech_minimal_vectors_from_codes() -> torch.Tensor:
    """The 196560 minimal vectors (norm 32) of the sqrt(8)-scaled Leech lattice by shape:
    (±4², 0²²) 1104; (±2⁸ on an octad, even number of minus signs, 0¹⁶) 759·128;
    (∓3, ±1²³) with signs ≡ 1 + 2c (mod 4) for c in C24, 24·4096."""
    golay = golay_codewords().double()
    pairs = torch.combinations(torch.arange(24), 2)
    signs2 = torch.cartesian_prod(*[torch.tensor([4.0, -4.0], dtype=torch.float64)] * 2)
    shape1 = torch.zeros(276, 4, 24, dtype=torch.float64)
    shape1.scatter_(2, pairs[:, None, :].expand(-1, 4, -1), signs2[None].expand(276, -1, -1))
    octads = golay[golay.sum(1) == 8]
    signs = torch.cartesian_prod(*[torch.tensor([1.0, -1.0], dtype=torch.float64)] * 8)
    even = signs[(signs < 0).sum(1) % 2 == 0]  # 128 sign patterns
    support = octads.nonzero()[:, 1].view(-1, 8)
    shape2 = torch.zeros(759, 128, 24, dtype=torch.float64)
    shape2.scatter_(2, support[:, None, :].expand(-1, 128, -1), 2 * even[None].expand(759, -1, -1))
    odd = 1 - 2 * golay  # (4096, 24): +1 where c_j = 0, -1 where c_j = 1
    shape3 = odd[:, None, :].repeat(1, 24, 1)
    shape3[:, torch.arange(24), torch.arange(24)] *= -3
    return torch.cat([shape1.view(-1, 24), shape2.view(-1, 24), shape3.view(-1, 24)])


@functools.cache
def minimal_vectors(name: str) -> torch.Tensor:
    if name == "leech":  # the enumeration takes ~5-10 s: see the slow test below
        return leech_minimal_vectors_from_codes()
    lattice = get_lattice(name)
    norms = {"e8": 2.0, "bw16": 8.0, "leech": 32.0}
    bound = norms.get(name, float(torch.diagonal(lattice.generator).max() ** 2) + 1e-9)
    v = short_vectors(lattice, bound)
    norm = (v * v).sum(-1)
    return v[norm <= norm.min() + 1e-9]


def random_points(name: str, count: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    lattice = get_lattice(name)
    gen = torch.Generator().manual_seed(seed)
    spread = SPREAD.get(name, 1.0) * 3
    return (torch.randn(count, lattice.dim, generator=gen, dtype=torch.float64) * spread).to(dtype)


def assert_locally_nearest(x: torch.Tensor, p: torch.Tensor, vectors: torch.Tensor) -> None:
    """No minimal vector v brings p + v closer to x, i.e. <x − p, v> <= |v|²/2 (for Z^n,
    A_n, D_n, D4*, E8 the minimal vectors are all the Voronoi-relevant ones, so this
    proves p is nearest; for BW16 and Leech it is a necessary condition)."""
    e = x.double() - p.double()
    half_norm = (vectors * vectors).sum(-1) / 2
    slack = 1e-9 if x.dtype == torch.float64 else 1e-4 * (1 + (e * e).sum(-1, keepdim=True))
    assert bool((e @ vectors.T <= half_norm + slack).all())


# -- generators ----------------------------------------------------------------------


@pytest.mark.parametrize("name", [*ALL, "e8^2", "a2xd4"])
def test_generator_is_upper_triangular_with_the_right_volume(name):
    lattice = get_lattice(name)
    g = lattice.generator
    assert g.dtype == torch.float64 and g.shape == (lattice.dim, lattice.dim)
    assert bool((torch.tril(g, -1) == 0).all())
    assert bool((torch.diagonal(g) > 0).all())
    assert math.isclose(abs(float(torch.linalg.det(g))), lattice.volume, rel_tol=1e-9)
    gram = g @ g.T
    assert math.isclose(float(torch.linalg.det(gram)), lattice.volume**2, rel_tol=1e-6)


@pytest.mark.parametrize(
    ("name", "norm", "kissing", "volume"),
    [
        ("a2", 2.0, 6, math.sqrt(3)),
        ("a3", 2.0, 12, 2.0),
        ("d4", 2.0, 24, 2.0),
        ("d5", 2.0, 40, 2.0),
        ("d4*", 1.0, 24, 0.5),
        ("e8", 2.0, 240, 1.0),
        ("bw16", 8.0, 4320, 2.0**12),
        # 5-10 s (enumeration from the generator); the fast suite checks the Leech
        # minimal vectors built from the Golay code instead
        pytest.param("leech", 32.0, 196560, 8.0**12, marks=pytest.mark.slow),
    ],
)
def test_minimal_norm_kissing_number_and_volume(name, norm, kissing, volume):
    lattice = get_lattice(name)
    v = short_vectors(lattice, norm + 1e-6)  # every nonzero vector of norm <= norm
    assert math.isclose(float((v[0] ** 2).sum()), norm, rel_tol=1e-9)
    assert v.shape[0] == kissing
    assert math.isclose(get_lattice(name).volume, volume, rel_tol=1e-12)


def test_standard_coordinates_and_a2_generator():
    # D_n, E8, BW16, Leech keep their standard integer / half-integer coordinates
    assert bool((get_lattice("d4").generator == torch.tensor(
        [[1.0, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1], [0, 0, 0, 2]])).all())  # fmt: skip
    assert bool((get_lattice("e8").generator * 2 % 1 == 0).all())
    for name in ("bw16", "leech"):
        assert bool((get_lattice(name).generator % 1 == 0).all())
    # (-3, 1^23) is a Leech vector, (1, 1^23) is not
    leech = get_lattice("leech")
    v = torch.tensor([[-3.0] + [1.0] * 23])
    assert torch.equal(leech.nearest(v), v)
    with pytest.raises(InputError, match="not points"):
        leech.coefficients(torch.ones(1, 24))
    a2 = get_lattice("a2").generator
    assert torch.allclose(a2, torch.tensor([[1.5**0.5, -(0.5**0.5)], [0.0, 2**0.5]]).double())


# -- codes ---------------------------------------------------------------------------


def test_golay_and_reed_muller_weight_distributions():
    golay = golay_codewords()
    assert golay.shape == (4096, 24) and set(golay.unique().tolist()) == {0, 1}
    weights, counts = golay.sum(1).unique(return_counts=True)
    assert weights.tolist() == [0, 8, 12, 16, 24] and counts.tolist() == [1, 759, 2576, 759, 1]
    assert golay.unique(dim=0).shape[0] == 4096
    rm = rm14_codewords()
    weights, counts = rm.sum(1).unique(return_counts=True)
    assert rm.shape == (32, 16) and weights.tolist() == [0, 8, 16] and counts.tolist() == [1, 30, 1]
    # both codes are linear: closed under XOR
    assert set(map(tuple, ((rm[:, None] ^ rm[None]).reshape(-1, 16)).tolist())) == set(
        map(tuple, rm.tolist())
    )


# -- exactness -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_nearest_is_a_lattice_point_and_locally_nearest(name, dtype):
    lattice = get_lattice(name)
    count = 300 if name == "leech" else 2000
    x = random_points(name, count, seed=11, dtype=dtype)
    p = lattice.nearest(x)
    assert p.dtype == dtype and p.shape == x.shape
    k = lattice.coefficients(p)
    assert k.dtype == torch.int64
    assert torch.allclose(
        lattice.points(k), p.double(), atol=1e-5 if dtype == torch.float32 else 1e-9
    )
    assert_locally_nearest(x, p, minimal_vectors(name))


@pytest.mark.parametrize("name", ["a2", "a3", "d4", "d4*", "z^3"])
def test_small_lattices_against_brute_force(name):
    lattice = get_lattice(name)
    x = random_points(name, 500, seed=3)
    radius = 2
    grid = torch.cartesian_prod(*[torch.arange(-radius, radius + 1)] * lattice.dim)
    babai = torch.round(x @ torch.linalg.inv(lattice.generator)).long()
    cand = lattice.points((babai[:, None, :] + grid[None]).reshape(-1, lattice.dim))
    cand = cand.view(x.shape[0], -1, lattice.dim)
    brute = ((x[:, None] - cand) ** 2).sum(-1).amin(-1)
    fast = ((x - lattice.nearest(x)) ** 2).sum(-1)
    assert torch.allclose(fast, brute, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["bw16", "leech"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fast_coset_decoder_matches_the_naive_all_coset_decoder(name, dtype):
    lattice = get_lattice(name)
    count = 60 if name == "leech" else 1000
    x = random_points(name, count, seed=5, dtype=dtype)
    # near-boundary points too: midpoints between a lattice point and a neighbour
    v = minimal_vectors(name)[:: 3000 if name == "leech" else 5][:count]
    p0 = lattice.nearest(x[: v.shape[0]])
    noise = 1e-3 * torch.randn(v.shape, generator=torch.Generator().manual_seed(6))
    x = torch.cat([x, (p0.double() + v / 2 + noise).to(dtype)])
    fast, naive = lattice.nearest(x), lattice.nearest_naive(x)
    d_fast = ((x.double() - fast.double()) ** 2).sum(-1)
    d_naive = ((x.double() - naive.double()) ** 2).sum(-1)
    assert torch.allclose(d_fast, d_naive, rtol=1e-6 if dtype == torch.float32 else 1e-12)
    if dtype == torch.float64:
        assert torch.equal(fast, naive)


@pytest.mark.parametrize("name", ["bw16", "leech"])
def test_coset_decoders_on_symmetric_points_with_many_ties(name):
    lattice = get_lattice(name)
    n = lattice.dim
    eye = torch.eye(n, dtype=torch.float64)
    x = torch.cat(
        [
            torch.zeros(1, n),
            torch.ones(1, n) * torch.tensor([[0.5], [1.0], [2.0], [3.0]]),
            eye * 2,
            eye[:4] * 4 + 2 * eye[4:8],
        ]
    ).double()
    fast, naive = lattice.nearest(x), lattice.nearest_naive(x)
    lattice.coefficients(fast)
    assert torch.equal(((x - fast) ** 2).sum(-1), ((x - naive) ** 2).sum(-1))
    assert torch.equal(lattice.nearest(x), fast)  # deterministic


def test_leech_minimal_vectors_from_the_golay_code_are_lattice_points():
    leech = get_lattice("leech")
    vectors = leech_minimal_vectors_from_codes()
    assert vectors.shape == (196560, 24)
    assert len({row.tobytes() for row in vectors.to(torch.int8).numpy()}) == 196560
    assert bool(((vectors**2).sum(-1) == 32).all())
    leech.coefficients(vectors)  # raises unless every vector is a lattice point
    assert torch.equal(leech.nearest(vectors[::97]), vectors[::97])


@pytest.mark.parametrize("name", [*ALL, "a2xd4"])
def test_translation_invariance(name):
    lattice = get_lattice(name)
    x = random_points(name, 200, seed=7)
    gen = torch.Generator().manual_seed(8)
    shift = lattice.points(torch.randint(-3, 4, (200, lattice.dim), generator=gen))
    assert torch.allclose(lattice.nearest(x + shift), lattice.nearest(x) + shift, atol=1e-9)


def test_products_are_blockwise_and_scaling_is_consistent():
    product = get_lattice("A2xD4")
    assert isinstance(product, ProductLattice) and product.name == "A2xD4" and product.dim == 6
    x = random_points("a2xd4", 500, seed=9)
    expected = torch.cat(
        [get_lattice("a2").nearest(x[:, :2]), get_lattice("d4").nearest(x[:, 2:])], -1
    )
    assert torch.equal(product.nearest(x), expected)
    assert math.isclose(product.volume, math.sqrt(3) * 2)
    cube = get_lattice("e8^3")
    assert cube.name == "E8^3" and cube.dim == 24 and cube.known_G == KNOWN_G["E8"]
    for name in ("e8", "a2", "leech", "e8^2"):
        lattice = get_lattice(name)
        big = lattice.scaled(2.5)
        x = random_points(name, 200, seed=10) * 2.5
        assert torch.allclose(big.nearest(x), 2.5 * lattice.nearest(x / 2.5), atol=1e-9)
        assert torch.allclose(big.generator, 2.5 * lattice.generator)
        assert math.isclose(big.volume, lattice.volume * 2.5**lattice.dim, rel_tol=1e-12)
        p = big.nearest(x)
        assert torch.allclose(big.points(big.coefficients(p)), p, atol=1e-9)
        unit = lattice.unit_volume()
        assert math.isclose(unit.volume, 1.0, rel_tol=1e-12)
        assert math.isclose(abs(float(torch.linalg.det(unit.generator))), 1.0, rel_tol=1e-9)


def test_points_are_computed_elementwise_in_a_fixed_order():
    lattice = get_lattice("a3").scaled(0.37)
    k = torch.randint(-50, 50, (64, 3), generator=torch.Generator().manual_seed(1))
    g = lattice.generator
    expected = torch.zeros(64, 3, dtype=torch.float64)
    for i in range(3):
        expected = expected + k[:, i : i + 1].double() * g[i]
    assert torch.equal(lattice.points(k), expected)
    assert torch.equal(lattice.points(k[None]), expected[None])


# -- second moments and Voronoi sampling -----------------------------------------------

# Sample counts give a relative standard error below 0.15 %, checked on the samples
# themselves (it is about 0.9 / sqrt(n · count) for Z^n and smaller for better lattices).
G_CASES = [
    ("z", 400_000, 1 / 12),
    ("a2", 300_000, 0.0801875),
    ("d4", 150_000, 0.0766032),
    ("e8", 60_000, 0.0716821),
    ("bw16", 30_000, 0.0682976),
    ("leech", 12_000, 0.0657714),
]


@pytest.mark.parametrize(("name", "count", "published"), G_CASES)
def test_monte_carlo_normalized_second_moment(name, count, published):
    lattice = get_lattice(name).unit_volume()
    assert math.isclose(lattice.known_G, published, rel_tol=1e-5)
    e = lattice.sample_voronoi(count, torch.Generator().manual_seed(12))
    per_sample = (e * e).sum(-1) / lattice.dim
    g = float(per_sample.mean())
    relative_se = float(per_sample.std()) / math.sqrt(count) / g
    assert relative_se < 0.0015
    assert abs(g / published - 1) < 0.005


def test_second_moment_mc_and_sample_voronoi():
    e8 = get_lattice("e8").scaled(3.0)
    assert abs(e8.second_moment_mc(20_000, seed=1) / KNOWN_G["E8"] - 1) < 0.01
    for name in ("a2", "d4*", "e8", "bw16", "leech"):
        lattice = get_lattice(name)
        e = lattice.sample_voronoi(2000, torch.Generator().manual_seed(2), dtype=torch.float32)
        assert e.dtype == torch.float32 and e.shape == (2000, lattice.dim)
        assert bool((lattice.nearest(e) == 0).all())
        scale = lattice.volume ** (1 / lattice.dim)
        assert float(e.double().mean(0).abs().max()) < 0.05 * scale
    a = get_lattice("d4").sample_voronoi(10, torch.Generator().manual_seed(3))
    b = get_lattice("d4").sample_voronoi(10, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


# -- names and errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "dim", "name", "n"),
    [
        ("z", None, "Z", 1),
        ("Z4", None, "Z^4", 4),
        ("z^4", None, "Z^4", 4),
        ("zn", 5, "Z^5", 5),
        ("A2", None, "A2", 2),
        ("an", 3, "A3", 3),
        ("d4", None, "D4", 4),
        ("Dn", 6, "D6", 6),
        ("d4*", None, "D4*", 4),
        ("dn*", 5, "D5*", 5),
        ("E8", None, "E8", 8),
        ("bw16", None, "BW16", 16),
        ("LEECH", None, "Leech", 24),
        ("e8^3", None, "E8^3", 24),
        ("a2xd4", None, "A2xD4", 6),
        ("z^8", None, "Z^8", 8),
        ("leechxz", None, "LeechxZ", 25),
    ],
)
def test_names(spec, dim, name, n):
    lattice = get_lattice(spec, dim)
    assert lattice.name == name and lattice.dim == n
    assert "E8" in available_lattices()


@pytest.mark.parametrize("spec", ["e9", "q8", "d2", "a0", "", "e8^0", "x", "a2x", "z*"])
def test_unknown_names_raise_input_error_listing_valid_names(spec):
    with pytest.raises(InputError, match=r"leech|dim") as info:
        get_lattice(spec)
    assert info.value.argument in ("name", "dim")


def test_bad_inputs():
    e8 = get_lattice("e8")
    with pytest.raises(InputError, match="dim=n"):
        get_lattice("dn")
    with pytest.raises(InputError, match=r"\(\.\.\., 8\)"):
        e8.nearest(torch.zeros(3, 7))
    with pytest.raises(InputError, match="non-finite"):
        e8.nearest(torch.full((2, 8), float("nan")))
    with pytest.raises(InputError, match="float32 or float64"):
        e8.nearest(torch.zeros(2, 8, dtype=torch.int64))
    with pytest.raises(InputError, match="integer"):
        e8.points(torch.zeros(2, 8))
    with pytest.raises(InputError, match="factor"):
        e8.scaled(0.0)
    with pytest.raises(InputError, match="count"):
        e8.sample_voronoi(-1)


# -- chunking and batching -------------------------------------------------------------


@pytest.mark.parametrize("name", ["d4", "e8", "bw16", "leech", "a2xd4"])
def test_chunked_batches_equal_one_by_one(name, monkeypatch):
    lattice = get_lattice(name)
    x = random_points(name, 300, seed=13)
    whole = lattice.nearest(x)
    monkeypatch.setattr(lattice_base, "CHUNK_BYTES", 1)  # forces the smallest chunks
    assert lattice._chunk_rows(8) < x.shape[0]
    assert torch.equal(lattice.nearest(x), whole)
    single = torch.cat([lattice.nearest(row[None]) for row in x[:40]])
    assert torch.equal(single, whole[:40])
    # leading batch dimensions are kept
    assert torch.equal(lattice.nearest(x.view(3, 100, -1)), whole.view(3, 100, -1))
