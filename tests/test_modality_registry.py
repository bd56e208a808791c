"""The INR modality registry: a fifth modality defined here, without editing rdlab, is
coded end to end (codec, command line, trainer); the built-in ones are found by path and
by signal; no module outside the modality modules dispatches on modality names."""

from __future__ import annotations

import ast
import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rdlab._files import write_atomic
from rdlab.cli import main
from rdlab.codecs.inr import INRCodec
from rdlab.container import decode_rdl
from rdlab.errors import FormatError, InputError
from rdlab.inr.modalities import (
    Modality,
    Prepared,
    get_modality,
    modality_for_path,
    modality_for_signal,
    modality_names,
    register_modality,
    unregister_modality,
)
from rdlab.inr.model_file import INRModel, save_inr_model
from rdlab.nn.bayes_inr import INRConfig
from test_inr import PROTEIN, SPEECH, VIDEO, _image

SRC = Path(__file__).resolve().parents[1] / "src" / "rdlab"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


class Signal1D:
    """A 1-D signal of float64 samples in [-1, 1]."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples = np.asarray(samples, dtype=np.float64)


class SignalModality(Modality):
    """The toy fifth modality: ``.sig`` files (``.npy`` bytes of float64 samples), values
    as they are, rate in bits per sample, distortion the MSE."""

    name = "signal"
    suffixes = (".sig",)
    output_suffix = ".sig"
    rate_keyword = "bits_per_sample"
    rate_unit = "bits/sample"
    architecture = ((16,), {"in_dim": 1, "out_dim": 1, "hidden": 8, "layers": 1,
                            "frequencies": 3, "max_frequency": 4.0})  # fmt: skip

    def accepts(self, signal: Any) -> bool:
        return isinstance(signal, Signal1D)

    def read(self, path: str | os.PathLike[str], **options: Any) -> Signal1D:
        return Signal1D(np.load(path, allow_pickle=False))

    def write(
        self,
        path: str | os.PathLike[str],
        signal: Any,
        *,
        overwrite: bool = False,
        protect: tuple[str, ...] = (),
    ) -> int:
        buffer = io.BytesIO()
        np.save(buffer, signal.samples)
        return write_atomic(path, buffer.getvalue(), overwrite=overwrite, protect=protect)

    def items(self, signal: Any) -> float:
        return float(signal.samples.size)

    def prepare(self, signal: Any) -> Prepared:
        values = signal.samples.astype(np.float32)[:, None]
        return Prepared(values, {"n": int(signal.samples.size)}, items=signal.samples.size)

    def spatial_shape(self, meta: dict[str, Any]) -> tuple[tuple[int, ...], int]:
        return (int(meta["n"]),), 1

    def restore(
        self,
        values: np.ndarray,
        meta: dict[str, Any],
        chunks: dict[str, bytes],
        *,
        codec_version: str | None = None,
    ) -> Signal1D:
        return Signal1D(np.clip(values[:, 0], -1.0, 1.0))

    def distortion(self, reference: Any, decoded: Any) -> dict[str, float]:
        return {"mse": float(np.mean((reference.samples - decoded.samples) ** 2))}


@pytest.fixture
def signal_modality():
    modality = register_modality(SignalModality())
    try:
        yield modality
    finally:
        unregister_modality("signal")


def _toy_model(steps: int = 20) -> INRModel:
    patch, arch = SignalModality.architecture
    cfg = INRConfig(**arch)
    count = cfg.num_params()
    fit = {"steps": steps, "fine_tune_steps": 3, "groups": 2, "log2_candidates": 10,
           "block_kl_target": 9.0}  # fmt: skip
    return INRModel("toy-signal", "signal", cfg, patch, 0.002, np.zeros(count),
                    cfg.init_std() * 2.0, np.full(count, 1.0), fit=fit,
                    card={"rate_per_item": 4.0})  # fmt: skip


def _wave(n: int = 200) -> Signal1D:
    t = np.arange(n) / n
    return Signal1D(0.6 * np.sin(2 * np.pi * 3 * t) + 0.2 * np.cos(2 * np.pi * 11 * t))


def test_a_fifth_modality_codes_end_to_end_through_the_codec(signal_modality) -> None:
    model = _toy_model()
    wave = _wave()
    assert "signal" in modality_names()
    assert modality_for_signal(wave) is signal_modality
    codec = INRCodec(model, bits_per_sample=12.0)  # its own rate keyword
    data = codec.encode(wave)
    file = decode_rdl(data, codecs={"inr": ("2",)})  # the default codec version
    assert file.metadata["n"] == 200
    assert 8 * len(data) <= 12.0 * 200  # the budget covers the whole file
    decoded = INRCodec(model).decode(data)
    again = INRCodec(model).decode(data)
    assert isinstance(decoded, Signal1D) and decoded.samples.shape == (200,)
    assert np.array_equal(decoded.samples, again.samples)
    # the fit beats the silent signal's error
    assert signal_modality.distortion(wave, decoded)["mse"] < np.mean(wave.samples**2)
    assert codec.last_report["modality"] == "signal"
    with pytest.raises(InputError, match="does not apply to signal; use bits_per_sample"):
        INRCodec(model, bpp=1.0).encode(wave)
    with pytest.raises(InputError, match="too low"):
        INRCodec(model, bits_per_sample=0.01).encode(wave)
    with pytest.raises(InputError, match="not an option"):
        INRCodec(model, bits_per_smaple=12.0)
    damaged = decode_rdl(data)
    for meta in ({}, {"n": "x"}, {"n": 0}):
        from dataclasses import replace

        from rdlab.container import encode_rdl

        bad = encode_rdl(replace(damaged, metadata=meta), compact=True)
        with pytest.raises(FormatError):
            INRCodec(model).decode(bad)


def test_a_fifth_modality_through_the_cli_and_the_trainer(
    signal_modality, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from rdlab.train.inr import DEFAULT_ARCHITECTURES, train_inr_prior

    source = tmp_path / "wave.sig"
    signal_modality.write(source, _wave())
    assert modality_for_path(source) is signal_modality
    model_path = tmp_path / "toy-signal.safetensors"
    save_inr_model(model_path, _toy_model())
    out = tmp_path / "coded.rdl"
    argv = ["compress", "--codec", "inr", str(source), "-o", str(out), "--model"]
    assert main([*argv, str(model_path), "--json"]) == 0  # the model's rate
    assert '"rate_unit": "bits/sample"' in capsys.readouterr().out
    assert main(["decompress", str(out), "--model", str(model_path)]) == 0
    capsys.readouterr()
    back = signal_modality.read(tmp_path / "coded.sig")  # the modality's output suffix
    assert back.samples.shape == (200,)
    # the trainer takes its default architecture from the modality
    assert DEFAULT_ARCHITECTURES["signal"] == SignalModality.architecture
    folder = tmp_path / "train"
    folder.mkdir()
    for k in range(2):
        signal_modality.write(folder / f"{k}.sig", _wave(64 + 32 * k))
    (folder / "notes.txt").write_text("not a signal")
    trained = train_inr_prior("signal", str(folder), str(tmp_path / "p.safetensors"),
                              beta=0.01, patches=4, rounds=1, steps_first=5)  # fmt: skip
    assert trained.modality == "signal" and trained.card["rate_per_item"] > 0
    with pytest.raises(InputError, match="sample_rate"):
        train_inr_prior("signal", str(folder), str(tmp_path / "q.safetensors"), beta=0.01,
                        sample_rate=8000)  # fmt: skip


def test_unregistered_modality_is_unknown_everywhere() -> None:
    assert "signal" not in modality_names()
    with pytest.raises(InputError, match="unknown modality 'signal'"):
        get_modality("signal")
    with pytest.raises(InputError, match="modality"):
        _toy_model()
    with pytest.raises(InputError, match="unknown modality"):
        INRCodec(modality="signal")
    with pytest.raises(InputError, match="cannot code a Signal1D"):
        INRCodec(bits=100.0).encode(_wave())
    with pytest.raises(InputError, match="already registered"):
        register_modality(get_modality("image"))
    with pytest.raises(InputError, match="must be a Modality"):
        register_modality("signal")  # type: ignore[arg-type]


def test_builtin_modalities_by_path_and_signal(tmp_path: Path) -> None:
    from rdlab.data.audio import read_audio
    from rdlab.data.proteins import read_ca_trace
    from rdlab.data.video import read_video

    assert modality_names()[:4] == ("image", "video", "audio", "protein")
    expected = {PROTEIN: "protein", tmp_path / "x.CIF": "protein", SPEECH: "audio",
                tmp_path / "x.wav": "audio", VIDEO: "video", tmp_path / "x.mp4": "video",
                tmp_path: "video", tmp_path / "x.jpg": "image",
                tmp_path / "x.unknown": "image"}  # fmt: skip
    for path, name in expected.items():
        assert modality_for_path(path).name == name, path
    signals = {"image": _image(), "audio": read_audio(SPEECH),
               "protein": read_ca_trace(PROTEIN), "video": read_video(VIDEO)}  # fmt: skip
    for name, signal in signals.items():
        assert modality_for_signal(signal).name == name
    units = {n: (get_modality(n).rate_keyword, get_modality(n).rate_unit) for n in signals}
    assert units == {
        "image": ("bpp", "bpp"),
        "audio": ("kbps", "kbit/s"),
        "protein": ("bits_per_atom", "bits/atom"),
        "video": ("bpp", "bpp"),
    }
    assert get_modality("audio").rate(6000.0, 1.0) == 6.0  # kbit/s
    assert get_modality("audio").budget_bits(6.0, 2.0) == 12000.0
    assert [get_modality(n).codec_version for n in signals] == ["2", "2", "3", "2"]


# ------------------------------------------------------------------ no string dispatch
_NAMES = r"""["'](?:image|audio|protein|video)["']"""
_DISPATCH = re.compile(
    rf"(?:==|!=)\s*{_NAMES}|{_NAMES}\s*(?:==|!=)|\bin\s*[(\[{{]\s*{_NAMES}|"
    rf"{_NAMES}\s+(?:not\s+)?in\s+\w*modalit"
)


def _sources() -> list[Path]:
    modality_modules = SRC / "inr" / "modalities"
    files = sorted(SRC.rglob("*.py")) + sorted(BENCHMARKS.rglob("*.py"))
    return [p for p in files if modality_modules not in p.parents]


def test_no_module_dispatches_on_modality_names() -> None:
    """Outside the modality modules nothing compares a modality to a name: the modality
    objects say what differs (the regex finds ``== "audio"``, ``in ("image", ...``)."""
    assert _DISPATCH.search('if modality == "audio":')
    assert _DISPATCH.search("modality in ('image', 'video')")
    assert _DISPATCH.search('"protein" != kind')
    found = [
        f"{path.relative_to(SRC.parents[1])}:{number}: {line.strip()}"
        for path in _sources()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _DISPATCH.search(line)
    ]
    assert not found, "\n".join(found)


def test_inr_imports_nothing_above_it() -> None:
    """``rdlab.inr`` (modalities included) imports neither codecs, train, eval nor cli."""
    above = {"codecs", "train", "eval", "cli"}
    for path in sorted((SRC / "inr").rglob("*.py")):
        depth = len(path.relative_to(SRC).parts) - 1  # packages below rdlab
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = (node.module or "").split(".")
                    top = parts[0] if node.level == depth + 1 else None
                else:
                    parts = (node.module or "").split(".")
                    top = parts[1] if parts[0] == "rdlab" and len(parts) > 1 else None
                assert top not in above, f"{path}: from {'.' * node.level}{node.module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    assert not (parts[0] == "rdlab" and parts[1:2] and parts[1] in above), path
