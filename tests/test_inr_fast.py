"""A small INR request stays small (issue 22, item 11): ``steps`` bounds every fitting
stage (the fine-tuning between coded groups included), the candidate pool is built in
bounded chunks, and the encoder names that stage in its progress."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pytest
from PIL import Image

from rdlab import rng
from rdlab.codecs.inr import INRCodec, encoder_settings
from rdlab.errors import InputError
from rdlab.inr.coding import fit_settings
from rdlab.inr.model_file import load_inr_model
from rdlab.nn.bayes_inr import BayesianINR
from rdlab.rec import blockwise as bw
from rdlab.rec.streams import stream_id


def _photo(size: int) -> np.ndarray:
    """A ``size`` x ``size`` crop of the bundled sample photo, uint8 RGB."""
    path = files("rdlab") / "samples" / "chelsea_256x192.png"
    with Image.open(str(path)) as im:
        return np.asarray(im.convert("RGB"))[:size, 64 : 64 + size].copy()


def test_one_step_fits_once_and_reports_the_candidate_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``steps=1`` runs one forward pass of the networks in all (the model's 60
    fine-tuning steps after each of 11 groups used to run regardless), and the progress
    names the candidate pool before fitting and coding."""
    forward = BayesianINR.forward
    calls = []

    def counting(self: BayesianINR, *args: object, **kwargs: object) -> object:
        calls.append(1)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(BayesianINR, "forward", counting)
    stages: list[tuple[str, int, int]] = []
    codec = INRCodec(steps=1, progress=lambda s, d, t: stages.append((s, d, t)))
    data = codec.encode(_photo(64))
    assert len(calls) == 1
    names = list(dict.fromkeys(s for s, _, _ in stages))
    assert names == ["candidates", "fit", "code"]
    last = {s: (d, t) for s, d, t in stages}
    assert last["candidates"][0] == last["candidates"][1] > 0
    assert last["fit"] == (1, 1)
    monkeypatch.undo()
    decoded = INRCodec().decode(data)
    assert decoded.shape == (64, 64, 3)


def test_steps_scale_the_fine_tuning_and_defaults_stay() -> None:
    """Fewer ``steps`` than the model's cut the fine-tuning in proportion; the defaults,
    more steps and an explicit ``fine_tune_steps`` keep their values."""
    model = load_inr_model("inr-image-4")
    base = fit_settings(model)
    full, tune = int(base["steps"]), int(base["fine_tune_steps"])
    assert encoder_settings(model) == base
    assert encoder_settings(model, steps=full) == base
    assert encoder_settings(model, steps=1)["fine_tune_steps"] == 0
    assert encoder_settings(model, steps=full // 10)["fine_tune_steps"] == tune // 10
    assert encoder_settings(model, steps=2 * full)["fine_tune_steps"] == tune
    assert encoder_settings(model, steps=1, fine_tune_steps=7)["fine_tune_steps"] == 7


@pytest.mark.parametrize(
    "options",
    [{"steps": 0}, {"steps": -3}, {"steps": True}, {"steps": 2.5}, {"fine_tune_steps": -1}],
)
def test_bad_step_counts_are_refused_up_front(options: dict) -> None:
    with pytest.raises(InputError):
        INRCodec(**options)


def test_pool_is_built_in_bounded_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 2^k x width pool is drawn a bounded number of normals at a time (one call on
    2^16 x 256 rows held 1.2 GB of temporaries) and equals the normals drawn at once."""
    k, width, seed = 12, 256, 5
    draws: list[int] = []
    normal_rows = rng.normal_rows

    def recording(*args: int) -> np.ndarray:
        out = normal_rows(*args)
        draws.append(out.size)
        return out

    bw.clear_pool_cache()
    monkeypatch.setattr(rng, "normal_rows", recording)
    z = bw.pool(seed, k, width)
    monkeypatch.undo()
    assert sum(draws) == (1 << k) * width
    assert max(draws) <= 1 << 18
    whole = rng.normal_rows(seed, stream_id("rec/pool"), 0, 0, 1 << k, width)
    assert np.array_equal(z.view(np.uint64), whole.view(np.uint64))
    # built ahead with its progress, with the encoder's float32 score features as they
    # were built from the whole pool at once
    bw.clear_pool_cache()
    seen: list[tuple[int, int]] = []
    bw.prepare_pool(seed, k, width, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1][0] == seen[-1][1] and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert np.array_equal(bw.pool(seed, k, width), z)
    zt = whole.T.astype(np.float32)
    features = bw._cached_pool(seed, k, width).features
    assert np.array_equal(features, np.concatenate([zt, zt * zt]))
    bw.clear_pool_cache()
