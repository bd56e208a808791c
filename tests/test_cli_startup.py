"""The command line starts without PyTorch or SciPy: ``--help``, ``info``, ``inspect``.

Deterministic checks of what a fresh interpreter has imported after the command (not a
timing test): importing PyTorch alone costs about a second.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rdlab.data import sample_path

HEAVY = ("torch", "scipy")

SCRIPT = """
import json, sys
from rdlab.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
sys.stdout.flush()
heavy = sorted(name for name in {heavy!r} if name in sys.modules)
sys.stderr.write("\\nHEAVY=" + json.dumps(heavy) + " CODE=" + str(code) + "\\n")
"""


def _run(*argv: str) -> tuple[list[str], int, str]:
    """Run ``rdlab ARGV`` in a fresh interpreter: (heavy modules imported, exit code,
    stdout)."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(heavy=HEAVY), *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("HEAVY="), done.stderr
    heavy, code = last[len("HEAVY=") :].split(" CODE=")
    return json.loads(heavy), int(code), done.stdout


@pytest.fixture(scope="module")
def rdl_file(tmp_path_factory):
    from rdlab.codecs import get_codec
    from rdlab.data import read_image

    path = tmp_path_factory.mktemp("startup") / "tiny.rdl"
    path.write_bytes(get_codec("lossless").encode(read_image(sample_path())[:16, :16]))
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("compress", "--help"),
        ("decompress", "--help"),
        ("bench", "images", "--help"),
        ("rec", "bench", "--help"),
        ("train", "--help"),
        ("info",),
        ("info", "--json"),
    ],
)
def test_help_and_info_import_neither_torch_nor_scipy(argv):
    heavy, code, out = _run(*argv)
    assert heavy == []
    assert code == 0
    assert out


def test_inspect_imports_neither_torch_nor_scipy(rdl_file):
    heavy, code, out = _run("inspect", str(rdl_file), "--json")
    assert heavy == []
    assert code == 0
    assert json.loads(out)["codec"] == "lossless"


def test_known_codecs_match_what_the_modules_register():
    """``rdlab info`` lists codec versions from the registry's table without importing
    the codecs; the modules register exactly those (or refuse to import)."""
    from rdlab.codecs.registry import BUILTIN_CODECS, available_codecs, known_codecs

    assert known_codecs() == available_codecs()
    assert {spec.name for spec in BUILTIN_CODECS if spec.versions} <= set(available_codecs())
