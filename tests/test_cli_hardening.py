"""The command line as a careless user meets it: refusals before the work, batches that
carry on past a bad file, outputs in the format their suffix names, honest rate reports
(issue 22, items 6-9, 12, 13 and 16)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from rdlab.cli import main
from rdlab.codecs.hyperprior import HyperpriorImageCodec
from rdlab.data import read_image, sample_path


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error(code, err, *needles):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rdlab: error:"), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def lossless_rdl(tmp_path, capsys):
    rdl = tmp_path / "good.rdl"
    code, _, err = run_cli(capsys, "compress", sample_path(), "--codec", "lossless", "-o", rdl)
    assert code == 0, err
    return rdl


@pytest.fixture
def no_encoding(monkeypatch):
    """Any encode or decode is a failure of the test: refusals come first."""

    def forbidden(self, *args, **kwargs):
        raise AssertionError("the codec ran before the refusal")

    monkeypatch.setattr(HyperpriorImageCodec, "encode", forbidden)
    monkeypatch.setattr(HyperpriorImageCodec, "decode", forbidden)


# -- item 6: outputs are checked before any coding ------------------------------------
def test_compress_refuses_bad_outputs_before_coding(tmp_path, capsys, no_encoding):
    existing = tmp_path / "a.rdl"
    existing.write_bytes(b"precious")
    cases = [
        (existing, "exists"),
        (tmp_path / "missing" / "a.rdl", "does not exist"),
        (tmp_path, "is a directory"),
    ]
    for output, needle in cases:
        code, _, err = run_cli(capsys, "compress", sample_path(), "-o", output, "--refine", "100")
        one_error(code, err, needle)
    assert existing.read_bytes() == b"precious"
    copy = tmp_path / "in.png"
    shutil.copy(sample_path(), copy)
    code, _, err = run_cli(capsys, "compress", copy, "-o", copy, "--force", "--refine", "100")
    one_error(code, err, "input file")


def test_batch_refuses_clashing_outputs_before_coding(tmp_path, capsys, no_encoding):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    shutil.copy(sample_path(), a)
    shutil.copy(sample_path(), b)
    (tmp_path / "b.png.rdl").write_bytes(b"keep")
    code, _, err = run_cli(capsys, "compress", a, b)
    one_error(code, err, "b.png.rdl", "exists")
    assert not (tmp_path / "a.png.rdl").exists()  # refused before the first file
    code, _, err = run_cli(capsys, "compress", a, a, "--force")
    one_error(code, err, "both be written")


def test_decompress_refuses_existing_output_before_decoding(
    tmp_path, capsys, lossless_rdl, monkeypatch
):
    from rdlab.codecs import lossless

    def forbidden(self, data):
        raise AssertionError("decoded before the refusal")

    monkeypatch.setattr(lossless.LosslessImageCodec, "decode", forbidden)
    target = tmp_path / "out.png"
    target.write_bytes(b"keep")
    code, _, err = run_cli(capsys, "decompress", lossless_rdl, "-o", target)
    one_error(code, err, "exists")
    default = tmp_path / "good.png"  # the default name, checked once the codec is known
    default.write_bytes(b"keep")
    code, _, err = run_cli(capsys, "decompress", lossless_rdl)
    one_error(code, err, "exists")
    assert target.read_bytes() == default.read_bytes() == b"keep"


# -- item 7: a batch names each bad file and carries on -------------------------------
def test_decompress_batch_names_bad_files_and_does_the_rest(tmp_path, capsys, lossless_rdl):
    bad = tmp_path / "bad.rdl"
    bad.write_bytes(lossless_rdl.read_bytes()[:40])
    other = tmp_path / "other.rdl"
    shutil.copy(lossless_rdl, other)
    code, out, err = run_cli(capsys, "decompress", bad, lossless_rdl, other, "--json")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rdlab: error: {bad}"), err
    report = json.loads(out)
    assert [f["input"] for f in report["files"]] == [str(lossless_rdl), str(other)]
    assert [f["input"] for f in report["failed"]] == [str(bad)]
    for name in ("good.png", "other.png"):
        assert np.array_equal(read_image(tmp_path / name), read_image(sample_path()))
    assert not (tmp_path / "bad.png").exists()
    # one bad file alone: the same line, naming it, exit 2
    code, out, err = run_cli(capsys, "decompress", bad, "-o", tmp_path / "x.png")
    one_error(code, err, str(bad))
    assert out == ""


def test_compress_batch_carries_on_past_a_bad_image(tmp_path, capsys):
    good, text = tmp_path / "good.png", tmp_path / "notes.png"
    shutil.copy(sample_path(), good)
    text.write_text("not an image")
    code, out, err = run_cli(capsys, "compress", text, good, "--codec", "lossless", "--json")
    assert code == 2
    assert err.count("rdlab: error:") == 1 and str(text) in err
    assert (tmp_path / "good.png.rdl").exists() and not (tmp_path / "notes.png.rdl").exists()
    assert json.loads(out)["failed"][0]["input"] == str(text)


# -- item 8: --compare is validated before anything is written ------------------------
def test_compare_of_another_size_writes_nothing(tmp_path, capsys, lossless_rdl):
    small = tmp_path / "small.png"
    Image.fromarray(read_image(sample_path())[:64, :64]).save(small)
    out = tmp_path / "c.png"
    code, _, err = run_cli(capsys, "decompress", lossless_rdl, "-o", out, "--compare", small)
    one_error(code, err, "compare")
    assert not out.exists()
    bad = tmp_path / "bad.png"
    bad.write_text("no image")
    code, _, err = run_cli(capsys, "decompress", lossless_rdl, "-o", out, "--compare", bad)
    line = one_error(code, err, "compare:")
    assert "input:" not in line
    assert not out.exists()


# -- item 9: the suffix names the format ----------------------------------------------
@pytest.mark.parametrize(("suffix", "fmt"), [(".png", "PNG"), (".tif", "TIFF"), (".bmp", "BMP")])
def test_decompress_writes_the_format_the_suffix_names(tmp_path, capsys, lossless_rdl, suffix, fmt):
    out = tmp_path / f"pic{suffix}"
    code, _, err = run_cli(capsys, "decompress", lossless_rdl, "-o", out)
    assert code == 0, err
    with Image.open(out) as image:
        assert image.format == fmt
    assert np.array_equal(read_image(out), read_image(sample_path()))


@pytest.mark.parametrize(("name", "needle"), [("pic.jpg", "JPEG"), ("pic.xyz", "unknown")])
def test_decompress_refuses_lossy_and_unknown_suffixes(
    tmp_path, capsys, lossless_rdl, name, needle
):
    out = tmp_path / name
    code, _, err = run_cli(capsys, "decompress", lossless_rdl, "-o", out)
    one_error(code, err, needle, ".png")
    assert not out.exists()


# -- item 12: messages -------------------------------------------------------------------
def test_option_messages_are_english(tmp_path, capsys):
    code, _, err = run_cli(capsys, "compress", sample_path(), "--bpp", "1", "-o", tmp_path / "a")
    one_error(code, err, "--bpp applies only to --codec inr")
    code, _, err = run_cli(
        capsys, "compress", sample_path(), "--bpp", "1", "--steps", "3", "-o", tmp_path / "a"
    )
    one_error(code, err, "--bpp, --steps apply only to --codec inr")
    code, _, err = run_cli(
        capsys, "compress", sample_path(), "--codec", "lossless", "-q", "3", "-o", tmp_path / "a"
    )
    one_error(code, err, "--quality applies only to --codec hyperprior")


def test_decompress_help_names_every_output_format(capsys):
    with pytest.raises(SystemExit):
        main(["decompress", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for word in ("FLAC", "PDB", "animated PNG", ".tif"):
        assert word in text, word


# -- item 13: --target-bpp says when it cannot be met -----------------------------------
@pytest.mark.parametrize(("target", "side"), [(8.0, "above"), (0.01, "below"), (0.5, None)])
def test_target_bpp_reports_reachability(tmp_path, capsys, target, side):
    out = tmp_path / "t.rdl"
    code, text, err = run_cli(
        capsys, "compress", sample_path(), "--target-bpp", target, "-o", out, "--json"
    )
    assert code == 0, err
    report = json.loads(text)
    assert report["target_bpp"] == target
    assert 1.0 <= report["quality"] <= 6.0
    assert report["quality"] == pytest.approx(report["rate_parameter"] + 1.0)
    assert report["bits_per_pixel"] == pytest.approx(8 * out.stat().st_size / (256 * 192))
    assert report["reachable"] is (side is None)
    if side is None:
        assert err == ""
        assert 0.8 * target <= report["bits_per_pixel"] <= target
    else:
        assert report["unreachable"] == side
        assert err.startswith("rdlab: warning:") and side in err and err.count("\n") == 1
    if side == "above":
        assert report["quality"] == 6.0 and report["bits_per_pixel"] < target
    if side == "below":
        assert report["quality"] == 1.0 and report["bits_per_pixel"] > target


def test_quality_is_reported_without_a_target(tmp_path, capsys):
    code, text, _ = run_cli(
        capsys, "compress", sample_path(), "-q", "2.5", "-o", tmp_path / "q.rdl", "--json"
    )
    assert code == 0
    report = json.loads(text)
    assert report["quality"] == 2.5 and "target_bpp" not in report and "reachable" not in report


# -- item 16: byte counts that cannot be confused ----------------------------------------
def test_byte_counts_are_named_by_what_they_count(tmp_path, capsys, lossless_rdl):
    code, text, _ = run_cli(
        capsys, "compress", sample_path(), "--codec", "lossless", "-o", tmp_path / "b.rdl",
        "--json",
    )  # fmt: skip
    assert code == 0
    report = json.loads(text)
    assert "bytes" not in report
    assert report["rdl_bytes"] == os.path.getsize(tmp_path / "b.rdl")
    assert report["input_bytes"] == os.path.getsize(sample_path())
    out = tmp_path / "b.png"
    _, text, _ = run_cli(capsys, "decompress", tmp_path / "b.rdl", "-o", out, "--json")
    report = json.loads(text)
    assert "bytes" not in report
    assert report["rdl_bytes"] == os.path.getsize(tmp_path / "b.rdl")
    assert report["output_bytes"] == os.path.getsize(out)


# -- items 1-3 at the command line: 16 bits, animations, huge images ----------------------
def test_16_bit_rgb_is_lossless_with_the_lossless_codec_and_refused_by_the_lossy_one(
    tmp_path, capsys
):
    from rdlab.data.images import probe_image, write_image

    image = np.random.default_rng(1).integers(0, 65536, (40, 56, 3), dtype=np.uint16)
    source = tmp_path / "rgb16.png"
    write_image(source, image)
    code, _, err = run_cli(capsys, "compress", source, "-o", tmp_path / "lossy.rdl")
    one_error(code, err, "16-bit", "--to-8bit")
    assert not (tmp_path / "lossy.rdl").exists()
    code, out, err = run_cli(
        capsys, "compress", source, "-o", tmp_path / "lossy.rdl", "--to-8bit", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["bits_per_sample"] == 8
    rdl, back = tmp_path / "l.rdl", tmp_path / "back.png"
    code, out, err = run_cli(capsys, "compress", source, "--codec", "lossless", "-o", rdl, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["lossless"] is True and report["bits_per_sample"] == 16
    code, _, err = run_cli(capsys, "decompress", rdl, "-o", back)
    assert code == 0, err
    assert probe_image(back).bit_depth == 16
    assert np.array_equal(read_image(back, bit_depth="keep"), image)


def test_an_animation_is_refused_by_the_image_codecs(tmp_path, capsys):
    frames = [Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (0, 120, 240)]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    for codec in ("hyperprior", "lossless"):
        code, _, err = run_cli(capsys, "compress", gif, "--codec", codec, "-o", tmp_path / "a")
        one_error(code, err, "3 frames", "--codec inr")
    assert not (tmp_path / "a").exists()


def test_a_huge_image_is_refused_from_its_header(tmp_path, capsys, monkeypatch, no_encoding):
    import struct
    import zlib

    from rdlab import _memory

    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    huge = tmp_path / "huge.png"
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    huge.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 60001))
        + chunk(b"IEND", b"")
    )  # fmt: skip
    monkeypatch.setattr(_memory, "memory_limits", lambda: {"cgroup": 8 << 30})
    for codec in ("hyperprior", "lossless"):
        code, _, err = run_cli(capsys, "compress", huge, "--codec", codec, "-o", tmp_path / "h")
        one_error(code, err, "20000x20000", "memory")
    assert not (tmp_path / "h").exists()


# -- review follow-ups: special files, names, INR suffixes, 16-bit --compare -------------
def test_special_files_are_neither_read_nor_replaced(tmp_path, capsys):
    fifo = tmp_path / "pipe.rdl"
    os.mkfifo(fifo)  # a reader would block on it forever
    code, _, err = run_cli(capsys, "decompress", fifo, "-o", tmp_path / "o.png")
    one_error(code, err, "not a regular file")
    code, _, err = run_cli(capsys, "compress", fifo, "--codec", "lossless", "-o", tmp_path / "x")
    one_error(code, err, "not a regular file")
    code, _, err = run_cli(
        capsys, "compress", sample_path(), "--codec", "lossless", "-o", fifo, "--force"
    )
    one_error(code, err, "not a regular file")
    assert os.path.exists(fifo) and not os.path.isfile(fifo)  # still the pipe


def test_a_short_file_name_is_still_named(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "8").write_bytes(b"")
    code, _, err = run_cli(capsys, "decompress", "8", "-o", "o.png")
    one_error(code, err)
    assert err.startswith("rdlab: error: 8: ")


def test_pgm_and_ppm_follow_the_image_kind(tmp_path, capsys, lossless_rdl):
    code, _, err = run_cli(capsys, "decompress", lossless_rdl, "-o", tmp_path / "x.pgm")
    one_error(code, err, "colour", ".ppm")
    assert not (tmp_path / "x.pgm").exists()
    code, _, err = run_cli(capsys, "decompress", lossless_rdl, "-o", tmp_path / "x.ppm")
    assert code == 0, err
    assert np.array_equal(read_image(tmp_path / "x.ppm"), read_image(sample_path()))


def test_sixteen_bit_compare_uses_the_16_bit_peak(tmp_path, capsys):
    from rdlab.data.images import write_image

    image = np.random.default_rng(2).integers(0, 65536, (20, 24, 3), dtype=np.uint16)
    source, rdl = tmp_path / "a.png", tmp_path / "a.rdl"
    write_image(source, image)
    assert run_cli(capsys, "compress", source, "--codec", "lossless", "-o", rdl)[0] == 0
    code, out, err = run_cli(
        capsys, "decompress", rdl, "-o", tmp_path / "b.png", "--compare", source, "--json"
    )
    assert code == 0, err
    assert json.loads(out)["psnr_db"] is None  # identical: lossless
    other = image.copy()
    other[0, 0, 0] ^= 1 << 15
    write_image(tmp_path / "c.png", other)
    code, out, err = run_cli(
        capsys, "decompress", rdl, "-o", tmp_path / "d.png", "--compare", tmp_path / "c.png",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    mse = (2**15) ** 2 / image.size
    assert json.loads(out)["psnr_db"] == pytest.approx(10 * np.log10(65535**2 / mse))


def test_animated_webp_is_video_for_the_inr_codec(tmp_path):
    from rdlab.inr.modalities import modality_for_path

    frames = [Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (0, 120, 240)]
    webp = tmp_path / "anim.webp"
    frames[0].save(webp, save_all=True, append_images=frames[1:], duration=100, lossless=True)
    assert modality_for_path(webp).name == "video"
