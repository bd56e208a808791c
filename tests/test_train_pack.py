"""rdlab.train.pack: training photos as JPEG under a byte budget, read by the trainer."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from PIL import Image

from rdlab.cli import main
from rdlab.data import read_image, sample_path
from rdlab.errors import InputError
from rdlab.train.image import load_image_folder
from rdlab.train.pack import SHORT_SIDES, build_pack, pack_images


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Two folders: 3 photos of 1600x1200 (mirror-tiled sample), 2 of 400x300 and one of
    400x200 (under the 256-pixel training crop)."""
    cat = read_image(sample_path())  # 192 x 256
    big = np.tile(np.concatenate([cat, cat[:, ::-1]], axis=1), (7, 4, 1))[:1200, :1600]
    a = tmp_path_factory.mktemp("train")
    b = tmp_path_factory.mktemp("train2")
    for i in range(3):
        Image.fromarray(np.roll(big, 97 * i, axis=1)).save(a / f"big{i}.png")
    for i in range(2):
        Image.fromarray(np.ascontiguousarray(big[:300, 100 * i : 100 * i + 400])).save(
            b / f"small{i}.png"
        )
    Image.fromarray(np.ascontiguousarray(big[:200, :400])).save(b / "thin.png")
    (b / "notes.txt").write_text("not an image")
    return [str(a), str(b)]


def test_the_largest_short_side_that_fits_is_chosen(sources, tmp_path):
    from pathlib import Path

    paths = sorted(Path(sources[0]).iterdir()) + sorted(Path(sources[1]).glob("small*.png"))
    sides = SHORT_SIDES[1:6]  # 768 .. 384
    sizes = {side: sum(map(len, pack_images(paths, side, 90))) for side in sides}
    assert all(sizes[a] > sizes[b] for a, b in itertools.pairwise(sides))
    budget = (sizes[sides[2]] + sizes[sides[1]]) // 2  # between 640 and 512
    report = build_pack(sources, tmp_path / "pack", max_bytes=budget)
    assert report.short_side == sides[2] and report.files == 5
    assert report.bytes == sizes[sides[2]] <= budget
    assert [Path(p).name for p in report.skipped] == ["thin.png"]  # short side 200 < 256
    images = load_image_folder(tmp_path / "pack", min_side=256)  # what training reads
    assert len(images) == 5  # every packed image is usable for 256-pixel crops
    assert sorted(min(im.shape[:2]) for im in images) == [300, 300, 512, 512, 512]
    manifest = json.loads((tmp_path / "pack" / "pack.json").read_text())
    assert manifest["files"] == 5 and len(manifest["list"]) == 5
    assert {f["file"].split("__")[0] for f in manifest["list"]} == {Path(s).name for s in sources}


def test_refusals(sources, tmp_path):
    with pytest.raises(InputError, match="do not fit"):
        build_pack(sources, tmp_path / "p", max_bytes=1000)
    assert not (tmp_path / "p").exists()  # refused before anything was written
    with pytest.raises(InputError, match="not a folder"):
        build_pack([str(tmp_path / "missing")], tmp_path / "p", max_bytes=10**7)
    with pytest.raises(InputError, match="quality"):
        build_pack(sources, tmp_path / "p", max_bytes=10**7, quality=20)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        build_pack(sources, tmp_path / "full", max_bytes=10**8)


def test_cli(sources, tmp_path, capsys):
    out = tmp_path / "pack"
    assert main(["train", "pack", *sources, "--out", str(out), "--max-mib", "8", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files"] == 5 and report["short_side"] == SHORT_SIDES[0]
    assert main(["train", "pack", *sources, "--out", str(out)]) == 2  # exists: --force
    assert "not empty" in capsys.readouterr().err
    assert main(["train", "pack", *sources, "--out", str(out), "--max-mib", "0"]) == 2
