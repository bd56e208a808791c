"""Models of your own: the architecture registry, model files and the ``learned`` codec
(issue 23, item 4). Tiny untrained models (their integer tables are what matters)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rdlab
from rdlab.codecs import get_codec
from rdlab.codecs.learned import LearnedImageCodec, register_learned_model
from rdlab.codecs.registry import codec_spec, known_codecs
from rdlab.container import Chunk, decode_rdl, encode_rdl
from rdlab.errors import (
    FormatError,
    InputError,
    ModelError,
    SizeLimitError,
    StreamEndError,
    WeightsMismatchError,
)
from rdlab.nn.architectures import (
    FactorizedPriorModel,
    build_architecture,
    learned_model_hash,
    load_model,
    register_architecture,
    save_model,
)

CONFIG = {"channels": 8, "latent_channels": 6, "layers": 2}


def small_model(seed: int) -> FactorizedPriorModel:
    torch.manual_seed(seed)
    model = build_architecture("factorized", **CONFIG)
    model.update()
    return model


def image(seed: int = 0, shape: tuple[int, ...] = (30, 45, 3)) -> np.ndarray:
    """A smooth uint8 image whose sides are not multiples of the alignment (4)."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0, 255, shape[0])[:, None]
    cols = np.linspace(0, 255, shape[1])[None, :]
    base = (rows + cols) / 2 + rng.normal(0, 8, shape[:2])
    if len(shape) == 3:
        base = base[:, :, None] + np.arange(shape[2]) * 20
    return np.clip(base, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def model() -> FactorizedPriorModel:
    return small_model(0)


def test_the_codec_is_in_the_registry():
    spec = codec_spec("learned")
    assert spec.writes == "rdl" and spec.modalities == ("image",)
    assert known_codecs()["learned"] == ("1",)
    assert isinstance(get_codec("learned"), LearnedImageCodec)


def test_model_file_round_trip_same_hash_same_bytes(model, tmp_path):
    path = tmp_path / "m.safetensors"
    digest = save_model(path, model, architecture="factorized", config=CONFIG)
    loaded = load_model(path)
    assert digest == learned_model_hash(model) == learned_model_hash(loaded)
    x = image()
    data = LearnedImageCodec(model).encode(x)
    assert decode_rdl(data).model_hash == digest
    from_file = get_codec("learned", model=str(path))
    assert from_file.encode(x) == data
    decoded = from_file.decode(data)
    assert decoded.dtype == np.uint8 and decoded.shape == x.shape
    assert np.array_equal(decoded, LearnedImageCodec(model).decode(data))
    # grey images come back grey
    grey = image(1, (17, 23))
    assert from_file.decode(from_file.encode(grey)).shape == grey.shape
    # the caller's model is left as it was (train mode, its own tables)
    assert model.training
    with pytest.raises(InputError, match="output"):  # no silent overwrite
        save_model(path, model, architecture="factorized", config=CONFIG)


def test_rdlab_decompress_finds_a_registered_model():
    model = small_model(7)
    data = rdlab.compress(image(), codec="learned", model=model)
    with pytest.raises(ModelError, match="register_learned_model"):
        rdlab.decompress(data)
    assert register_learned_model(model) == learned_model_hash(model)
    assert rdlab.decompress(data).shape == image().shape


def test_decoding_with_the_wrong_model_is_refused(model, tmp_path):
    data = LearnedImageCodec(model).encode(image())
    other = small_model(1)
    with pytest.raises(WeightsMismatchError):
        LearnedImageCodec(other).decode(data)
    path = tmp_path / "other.safetensors"
    save_model(path, other, architecture="factorized", config=CONFIG)
    with pytest.raises(WeightsMismatchError):
        get_codec("learned", model=str(path)).decode(data)


def test_unknown_architecture_is_refused_in_one_line(model, tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with pytest.raises(ModelError, match="unknown model architecture 'nope'"):
        save_model(tmp_path / "x.safetensors", model, architecture="nope", config=CONFIG)
    path = tmp_path / "m.safetensors"
    save_model(path, model, architecture="factorized", config=CONFIG)
    with safe_open(str(path), framework="numpy") as f:
        metadata = f.metadata()
    save_file(load_file(str(path)), str(path), metadata={**metadata, "architecture": "nope"})
    with pytest.raises(ModelError) as caught:
        load_model(path)
    assert "nope" in str(caught.value) and "\n" not in str(caught.value)
    # a config that does not build the model's tensors
    with pytest.raises(ModelError, match="does not build"):
        save_model(
            tmp_path / "y.safetensors", model, architecture="factorized", config={"layers": 3}
        )


def test_a_model_without_tables_is_refused(tmp_path):
    with pytest.raises(ModelError, match="update"):
        save_model(
            tmp_path / "m.safetensors",
            build_architecture("factorized", **CONFIG),
            architecture="factorized",
            config=CONFIG,
        )


def test_a_user_architecture_saves_and_loads(tmp_path):
    register_architecture("tiny-test", lambda width: FactorizedPriorModel(width, width, 1))
    torch.manual_seed(3)
    model = build_architecture("tiny-test", width=4)
    model.update()
    path = tmp_path / "t.safetensors"
    save_model(path, model, architecture="tiny-test", config={"width": 4})
    x = image(2, (9, 11, 3))
    data = LearnedImageCodec(model).encode(x)
    assert np.array_equal(
        LearnedImageCodec(path).decode(data), LearnedImageCodec(model).decode(data)
    )


def _rewritten(data: bytes, metadata: dict | None = None, payload: bytes | None = None) -> bytes:
    f = decode_rdl(data)
    chunks = f.chunks if payload is None else (Chunk("LS00", payload),)
    return encode_rdl(
        type(f)(f.codec, f.codec_version, f.model_hash, metadata or f.metadata, chunks)
    )


def test_cut_streams_and_impossible_sizes_are_refused(model):
    codec = LearnedImageCodec(model, max_pixels=10_000)
    data = codec.encode(image())
    stream = decode_rdl(data).chunk("LS00")
    for bad in (stream[:-4], stream[: len(stream) // 2], stream + bytes(4)):
        with pytest.raises(FormatError):
            codec.decode(_rewritten(data, payload=bad))
    with pytest.raises(StreamEndError):
        codec.decode(_rewritten(data, payload=stream + bytes(4)))
    meta = decode_rdl(data).metadata
    huge = {**meta, "height": 40_000, "width": 40_000, "latent_shape": [1, 6, 10_000, 10_000]}
    with pytest.raises(SizeLimitError):  # before any allocation
        codec.decode(_rewritten(data, huge))
    with pytest.raises(FormatError, match="impossible"):  # the stream cannot hold them
        LearnedImageCodec(model, max_pixels=None).decode(_rewritten(data, huge))
    for bad_meta in (
        {**meta, "latent_shape": [1, 6, 3, 3]},
        {**meta, "latent_shape": [1, 5, *meta["latent_shape"][2:]]},
        {**meta, "height": -1},
        {**meta, "mode": "CMYK"},
    ):
        with pytest.raises(FormatError):
            codec.decode(_rewritten(data, bad_meta))
    assert np.array_equal(codec.decode(_rewritten(data)), codec.decode(data))  # control


def test_a_file_claiming_a_huge_config_is_refused_before_allocating(model, tmp_path):
    """The tensors keep their hash, the config claims 4096 channels (the bound): building
    that model would allocate gigabytes, so the shapes are compared on the meta device
    first."""
    import json
    import resource

    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    path = tmp_path / "m.safetensors"
    save_model(path, model, architecture="factorized", config=CONFIG)
    with safe_open(str(path), framework="numpy") as f:
        metadata = f.metadata()
    huge = {**CONFIG, "channels": 4096, "latent_channels": 4096}
    save_file(load_file(str(path)), str(path), metadata={**metadata, "config": json.dumps(huge)})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, the peak so far
    with pytest.raises(ModelError, match="in the file"):
        load_model(path)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown < 256 << 10  # the real model would take gigabytes


@pytest.mark.parametrize("key", ["layers", "channels"])
def test_a_config_beyond_the_architectures_bounds_is_refused(model, tmp_path, key):
    import json

    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    path = tmp_path / "m.safetensors"
    save_model(path, model, architecture="factorized", config=CONFIG)
    with safe_open(str(path), framework="numpy") as f:
        metadata = f.metadata()
    bad = {**CONFIG, key: 2_000_000}
    save_file(load_file(str(path)), str(path), metadata={**metadata, "config": json.dumps(bad)})
    with pytest.raises(ModelError, match=key):
        load_model(path)
