"""One codec registry with capabilities: every built-in codec (classical, the hyperprior
and its benchmark presets, lossless, INR, LTC) is in it, the image benchmark reads it,
and ``rdlab.decompress`` / ``rdlab.load`` / ``rdlab decompress`` decode LTC files."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import rdlab
from rdlab.cli import main
from rdlab.codecs import registry
from rdlab.codecs.ltc import LTCCodec
from rdlab.container import decode_rdl
from rdlab.data.sources import GaussianSource
from rdlab.errors import ModelError, WeightsMismatchError
from rdlab.lattice import get_lattice
from rdlab.nn import LTCModel

BUILTIN = {
    "hyperprior",
    "rdlab",
    "rdlab-e8",
    "rdlab-refine",
    "lossless",
    "inr",
    "ltc",
    "overfit",
    "learned",
    "jpeg",
    "webp",
    "jpeg2000",
    "avif",
    "heic",
    "jxl",
}
CLASSICAL = {"jpeg", "webp", "jpeg2000", "avif", "heic", "jxl"}


@pytest.fixture
def no_registered_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Models registered by one test are not seen by the others."""
    monkeypatch.setattr(registry, "_MODELS", {})


@pytest.fixture(scope="module")
def ltc_case() -> tuple[LTCModel, np.ndarray, bytes]:
    """A small one-shot A2 model (float32, training mode, as a user holds it), items and
    the file they code to."""
    model = LTCModel(2, get_lattice("a2").unit_volume(), init_gain=2.0, mc_samples=32, seed=5)
    model.train()
    x = GaussianSource(1.0, 2).sample(120, seed=4)
    return model, x, LTCCodec(model, dither_seed=3).encode(x)


# ---------------------------------------------------------------------- the registry
def test_every_builtin_codec_is_in_the_one_registry_with_capabilities() -> None:
    from rdlab.codecs import hyperprior, inr, learned, lossless, ltc, overfit

    specs = registry.codec_specs()
    assert set(specs) >= BUILTIN
    for name in BUILTIN:
        spec = specs[name]
        assert spec.name == name and spec.description
        assert spec.modalities and set(spec.modalities) <= set(registry.MODALITIES)
        assert spec.suffix.startswith(".")
        codec = registry.get_codec(name)  # every factory resolves (nothing is run)
        assert isinstance(codec, registry.Codec), name
        assert spec.to_dict()["name"] == name  # JSON-ready
    # what each writes, and the .rdl versions each decodes: those its module registers
    for module in (hyperprior, inr, lossless, ltc, learned, overfit):
        spec = specs[module.NAME]
        assert spec.writes == "rdl" and spec.suffix == ".rdl"
        assert spec.versions == tuple(module.VERSIONS)
    rdl = {"hyperprior", "inr", "lossless", "ltc", "learned", "overfit"}
    assert set(registry.known_codecs()) == rdl
    for name in CLASSICAL:
        assert specs[name].writes not in ("rdl", "") and not specs[name].versions
        assert specs[name].check is not None  # availability is probed (plugins)
    assert specs["jpeg"].suffix == ".jpg" and specs["jpeg"].writes == "JPEG"
    assert specs["jpeg2000"].quality.keyword == "quality"
    assert (specs["jpeg"].quality.low, specs["jpeg"].quality.high) == (1, 95)
    # modalities and losslessness
    assert specs["ltc"].modalities == ("vectors",)
    assert set(specs["inr"].modalities) == {"image", "audio", "protein", "video"}
    assert specs["lossless"].lossless and not specs["hyperprior"].lossless
    assert specs["lossless"].quality is None
    # the hyperprior's benchmark variants are presets of it
    for name, options in (
        ("rdlab", {"model": "default"}),
        ("rdlab-e8", {"model": "default-e8"}),
        ("rdlab-refine", {"refine": 100}),
    ):
        assert specs[name].base == "hyperprior"
        assert options.items() <= dict(specs[name].options).items()
    preset = registry.get_codec("rdlab-e8", quality=2.0)
    assert preset.name == "hyperprior" and preset.model_name == "default-e8"
    assert preset.quality == 2.0
    # aliases and case
    assert registry.codec_spec("JP2").name == "jpeg2000"
    assert registry.codec_spec("JpegXL").name == "jxl"


def test_quality_ranges_are_checked_from_the_registry() -> None:
    from rdlab.errors import InputError

    assert registry.get_codec("jpeg", quality=50).quality == 50
    with pytest.raises(InputError):
        registry.get_codec("jpeg", quality=96)
    with pytest.raises(InputError):
        registry.get_codec("jpeg2000", quality=-1)
    jpeg = registry.codec_spec("jpeg").quality
    assert list(jpeg.sweep) == sorted(jpeg.sweep) and jpeg.integer


def test_info_lists_the_registry_without_running_codecs(capsys: Any) -> None:
    import json

    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    listed = report["registry"]
    assert set(listed) >= BUILTIN
    assert listed["ltc"]["modalities"] == ["vectors"]
    assert listed["ltc"]["versions"] == ["1", "2"]
    assert listed["jpeg"]["writes"] == "JPEG" and listed["jpeg"]["available"] is True
    assert listed["inr"]["quality"]["high"] is None  # no upper bound (JSON has no inf)
    assert "ltc" in report["codecs"]


# ------------------------------------------------------------------- the benchmark
class _StepPng:
    """A toy lossy codec: pixels rounded to multiples of ``step``, stored as PNG."""

    name = "step-png"
    version = "1"
    description = "pixels quantized to multiples of step, PNG"

    def __init__(self, step: int = 8) -> None:
        self.quality = step

    def encode(self, x: Any) -> bytes:
        image = (np.asarray(x, np.int64) // self.quality * self.quality).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        return buffer.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB")).copy()


def test_the_image_benchmark_reads_its_codecs_from_the_registry(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rdlab.cli import bench
    from rdlab.data import read_image, sample_path
    from rdlab.eval.image_bench import evaluate_images, resolve_qualities

    defaults = registry.bench_codecs(default_only=True)
    assert defaults[0] == "rdlab" and set(defaults[1:]) == CLASSICAL
    assert ",".join(defaults) == bench.DEFAULT_CODECS
    assert set(registry.bench_codecs()) == BUILTIN - {
        "hyperprior",
        "lossless",
        "inr",
        "ltc",
        "learned",
    }
    sweeps = resolve_qualities(["jpeg", "rdlab-e8"], None)
    assert sweeps["rdlab-e8"] == list(registry.codec_spec("rdlab-e8").quality.sweep)

    monkeypatch.setattr(registry, "_SPECS", dict(registry._SPECS))
    registry.register(
        registry.CodecSpec(
            name="step-png",
            description=_StepPng.description,
            factory=_StepPng,
            writes="PNG",
            suffix=".png",
            modalities=("image",),
            quality=registry.QualityRange("step", 1, 64, integer=True, sweep=(4, 16, 32)),
        )
    )
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(read_image(sample_path())[:64, :80]).save(folder / "a.png")
    result = evaluate_images(folder, ["step-png"], qualities={"jpeg": [20, 50, 80]})
    assert list(result["mean_curves"]) == ["jpeg", "step-png"]
    points = result["images"][0]["results"]["step-png"]
    assert [p["quality"] for p in points] == [4, 16, 32]
    assert points[0]["psnr"] > points[-1]["psnr"]
    assert result["codecs"]["step-png"]["description"] == _StepPng.description


# ----------------------------------------------------------------------------- LTC
def test_ltc_codec_leaves_the_callers_model_alone(ltc_case: Any) -> None:
    model, x, _ = ltc_case
    before = {k: v.clone() for k, v in model.state_dict().items()}
    codec = LTCCodec(model)
    codec.decode(codec.encode(x))
    assert model.training
    assert model.analysis.linear.weight.dtype == torch.float32
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert isinstance(codec, registry.Codec) and codec.description


def test_rdlab_decompress_and_load_of_an_ltc_file(
    ltc_case: Any, tmp_path: Any, no_registered_models: None
) -> None:
    from rdlab.codecs.ltc import register_ltc_model

    model, x, data = ltc_case
    expected = LTCCodec(model).decode(data)
    path = tmp_path / "items.rdl"
    path.write_bytes(data)
    # without its model: one line saying how to give it
    with pytest.raises(ModelError) as info:
        rdlab.decompress(data)
    message = str(info.value)
    assert "\n" not in message and "--model" in message and "register_ltc_model" in message
    register_ltc_model(model)
    decoded = rdlab.decompress(data)
    assert decoded.dtype == np.float64 and decoded.shape == x.shape
    assert np.array_equal(decoded, expected)
    assert np.array_equal(rdlab.load(path), expected)
    assert model.training and model.analysis.linear.weight.dtype == torch.float32


def test_ltc_model_file_carries_the_hash_the_files_carry(
    ltc_case: Any, tmp_path: Any, no_registered_models: None
) -> None:
    from rdlab.container import model_hash
    from rdlab.nn.ltc import load_ltc_model, save_ltc_model

    model, _, data = ltc_case
    path = tmp_path / "ltc.safetensors"
    digest = save_ltc_model(path, model)
    assert digest == decode_rdl(data).model_hash == LTCCodec(model).hash
    from safetensors.numpy import load_file

    assert model_hash(load_file(str(path))) == digest  # the file's tensors, hashed
    loaded = load_ltc_model(path)
    assert isinstance(loaded, LTCModel) and loaded.item_shape == model.item_shape
    expected = LTCCodec(model).decode(data)
    assert np.array_equal(LTCCodec(loaded).decode(data), expected)
    assert np.array_equal(registry.get_codec("ltc", model=str(path)).decode(data), expected)
    # another model's file is refused, not used
    other = tmp_path / "other.safetensors"
    save_ltc_model(other, LTCModel(2, get_lattice("a2").unit_volume(), mc_samples=32, seed=6))
    with pytest.raises(WeightsMismatchError):
        registry.get_codec("ltc", model=str(other)).decode(data)
    # block layout, and a lattice scaled to unit volume, survive the round trip
    block = LTCModel(1, get_lattice("d4").unit_volume(), block=True, mc_samples=16)
    save_ltc_model(tmp_path / "block.safetensors", block)
    again = load_ltc_model(tmp_path / "block.safetensors")
    assert again.item_shape == (4, 1) and again.block
    assert LTCCodec(again).hash == LTCCodec(block).hash
    items = GaussianSource(1.0, 1).sample(40, seed=1).reshape(10, 4, 1)
    assert np.array_equal(
        LTCCodec(again).decode(LTCCodec(block).encode(items)),
        LTCCodec(block).decode(LTCCodec(block).encode(items)),
    )
    # a file that is not an LTC model: one-line ModelError
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    with pytest.raises(ModelError):
        load_ltc_model(tmp_path / "junk.safetensors")


def test_cli_decompress_of_an_ltc_file_writes_npy(
    ltc_case: Any, tmp_path: Any, capsys: Any, no_registered_models: None
) -> None:
    from rdlab.nn.ltc import save_ltc_model

    model, _, data = ltc_case
    source = tmp_path / "items.rdl"
    source.write_bytes(data)
    model_path = tmp_path / "m.safetensors"
    save_ltc_model(model_path, model)
    # without the model: exit 2 and one line naming --model; nothing written
    assert main(["decompress", str(source)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--model" in err
    assert not (tmp_path / "items.npy").exists()
    # an image output name is refused before decoding
    assert main(["decompress", str(source), "--model", str(model_path), "-o", "x.png"]) == 2
    assert ".npy" in capsys.readouterr().err
    assert main(["decompress", str(source), "--model", str(model_path)]) == 0
    out = tmp_path / "items.npy"
    decoded = np.load(out)
    assert decoded.dtype == np.float64
    assert np.array_equal(decoded, LTCCodec(model).decode(data))
    assert source.read_bytes() == data
    capsys.readouterr()
    assert main(["decompress", str(source), "--model", str(model_path)]) == 2  # exists
    assert "--force" in capsys.readouterr().err


def test_cli_compress_refuses_codecs_that_write_no_rdl_image(tmp_path: Any, capsys: Any) -> None:
    """Every codec is in the registry now; ``rdlab compress`` still writes only .rdl files
    of images, and says so before any work."""
    for codec, needle in (("jpeg", "writes JPEG files"), ("ltc", "codes vectors")):
        out = tmp_path / f"{codec}.rdl"
        assert main(["compress", "--sample", "--codec", codec, "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err
        assert not out.exists()
