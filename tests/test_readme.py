"""The README's library examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"
OWN_CODEC = "Build your own codec"


def python_blocks(heading: str | None = None) -> list[str]:
    """The README's ``python`` code blocks: those under ``## heading``, or (None) those
    of every other section."""
    blocks = []
    for section in re.split(r"^## ", README.read_text(encoding="utf-8"), flags=re.M):
        if (heading is None) != section.startswith(f"{heading or OWN_CODEC}\n"):
            blocks += re.findall(r"```python\n(.*?)```", section, re.S)
    return blocks


def test_readme_python_example_runs(capsys):
    blocks = python_blocks()
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    printed = capsys.readouterr().out
    bits = float(printed.split()[0])
    assert 0.5 < bits < 6  # log-normal scales around 1: a few bits per latent


def test_build_your_own_codec_example_runs_and_decodes_with_the_cli(tmp_path, monkeypatch):
    """The example verbatim: it trains, saves a model file and writes a real ``.rdl``
    file; the CLI decodes that file with the model file alone."""
    from rdlab.data.images import read_image, sample_path

    (block,) = python_blocks(OWN_CODEC)
    assert len(block.splitlines()) <= 30
    monkeypatch.chdir(tmp_path)
    exec(compile(block, str(README), "exec"), {})
    assert (tmp_path / "sample.rdl").is_file() and (tmp_path / "my_model.safetensors").is_file()
    command = re.search(r"```bash\n(rdlab decompress [^\n]*)\n```", block_section())
    assert command, "the section shows no rdlab decompress line"
    args = command.group(1).split()[1:]
    # a fresh process: no model registered, the architecture known from the file alone
    result = subprocess.run(
        [sys.executable, "-m", "rdlab", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    decoded = read_image(tmp_path / args[args.index("-o") + 1])
    original = read_image(sample_path())
    assert decoded.shape == original.shape and decoded.dtype == np.uint8


def block_section() -> str:
    """The text of the README's "Build your own codec" section."""
    text = README.read_text(encoding="utf-8")
    return text.split(f"## {OWN_CODEC}\n", 1)[1].split("\n## ", 1)[0]
