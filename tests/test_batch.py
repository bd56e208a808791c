"""Batch mode: folders coded into a mirrored tree with a manifest, resumable, the same
bytes whatever the worker count, bad inputs recorded, killed runs leave no partial file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _private_network import run_isolated
from rdlab.batch import MANIFEST, Manifest, plan_compress
from rdlab.cli import main
from rdlab.container import decode_rdl
from rdlab.errors import InputError

QUALITY = ("--quality", "2")


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Five small photos in a tree, plus a text file named .png and a truncated PNG."""
    folder = tmp_path_factory.mktemp("photos")
    (folder / "sub").mkdir()
    cat = np.asarray(Image.open(str(files("rdlab") / "samples" / "chelsea_256x192.png")))
    for i in range(4):
        crop = np.ascontiguousarray(cat[16 * i : 16 * i + 96, 24 * i : 24 * i + 128])
        Image.fromarray(crop).save(folder / ("sub" if i == 3 else ".") / f"p{i}.png")
    Image.fromarray(cat[:64, :64]).save(folder / "sub" / "small.png")
    (folder / "text.png").write_text("not an image")
    whole = (folder / "p0.png").read_bytes()
    (folder / "sub" / "cut.png").write_bytes(whole[: len(whole) // 2])
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    return folder


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.rdl"))}


def test_folder_is_coded_into_a_mirrored_tree_with_a_manifest(photos, tmp_path, capsys):
    out = tmp_path / "out"
    code, text, err = run_cli(capsys, "compress", photos, "-o", out, "--workers", "2",
                              *QUALITY, "--json")  # fmt: skip
    assert code == 2  # two inputs failed; the rest were done
    report = json.loads(text)
    assert (report["planned"], report["coded"], report["failed"]) == (7, 5, 2)
    assert set(_outputs(out)) == {"p0.png.rdl", "p1.png.rdl", "p2.png.rdl",
                                  "sub/p3.png.rdl", "sub/small.png.rdl"}  # fmt: skip
    records = {r["key"]: r for r in _records(out)}
    assert set(records) == {"p0.png", "p1.png", "p2.png", "sub/p3.png", "sub/small.png",
                            "text.png", "sub/cut.png"}  # fmt: skip
    for key, data in _outputs(out).items():
        record = records[key[: -len(".rdl")]]
        assert record["status"] == "ok" and record["output_bytes"] == len(data)
        assert record["bits_per_pixel"] > 0 and record["psnr_db"] > 20
        assert decode_rdl(data).codec == "hyperprior"
    failed = {k: r["error"] for k, r in records.items() if r["status"] == "failed"}
    assert set(failed) == {"text.png", "sub/cut.png"}
    assert all("\n" not in e and e for e in failed.values())
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("rdlab: error: ") for line in lines)


def test_rerun_redoes_exactly_what_is_missing_or_corrupt(photos, tmp_path, capsys):
    out = tmp_path / "out"
    run_cli(capsys, "compress", photos, "-o", out, *QUALITY)
    before = _outputs(out)
    (out / "p0.png.rdl").unlink()
    (out / "sub" / "p3.png.rdl").unlink()
    corrupt = bytearray((out / "p1.png.rdl").read_bytes())
    corrupt[-5] ^= 0xFF
    (out / "p1.png.rdl").write_bytes(bytes(corrupt))
    lines_before = len(_records(out))
    code, text, _ = run_cli(capsys, "compress", photos, "-o", out, *QUALITY, "--json")
    report = json.loads(text)
    assert code == 2 and report["coded"] == 3 and report["skipped"] == 2
    new = [r["key"] for r in _records(out)[lines_before:]]
    # the three damaged outputs, and the two failed inputs tried again
    assert sorted(new) == sorted(["p0.png", "sub/p3.png", "p1.png", "text.png", "sub/cut.png"])
    assert _outputs(out) == before


def test_outputs_are_byte_identical_for_one_and_two_workers(photos, tmp_path, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    run_cli(capsys, "compress", photos, "-o", one, "--workers", "1", *QUALITY)
    run_cli(capsys, "compress", photos, "-o", two, "--workers", "2", *QUALITY)
    assert _outputs(one) == _outputs(two) and len(_outputs(one)) == 5


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _running(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie has exited: only its entry is left)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(("sig", "workers"), [(signal.SIGKILL, 1), (signal.SIGTERM, 2)])
def test_a_killed_run_leaves_no_partial_output_and_resumes(photos, tmp_path, capsys, sig,
                                                           workers):  # fmt: skip
    reference = tmp_path / "reference"
    run_cli(capsys, "compress", photos, "-o", reference, *QUALITY)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "rdlab", "--quiet", "compress", str(photos), "-o",
               str(out), *QUALITY, "--workers", str(workers)]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if (out / MANIFEST).is_file() and (out / MANIFEST).read_text().count("\n") >= 1:
            break
        time.sleep(0.02)
    workers_seen = _children(child.pid)
    start = time.monotonic()
    child.send_signal(sig)
    code = child.wait(timeout=60)
    if sig == signal.SIGTERM:  # stopped at once, in one line, its workers gone with it
        assert time.monotonic() - start < 30
        assert code == 128 + signal.SIGTERM
        assert child.stderr.read().decode().strip() == "rdlab: terminated"
        assert workers_seen  # the negative control: there were workers to stop
        time.sleep(1)
        assert not [p for p in workers_seen if _running(p)]
    child.stderr.close()
    expected = _outputs(reference)
    for key, data in _outputs(out).items():  # whatever is there is complete
        assert data == expected[key], key
    code, _, _ = run_cli(capsys, "compress", photos, "-o", out, *QUALITY)
    assert code == 2 and _outputs(out) == expected
    assert not [p for p in out.rglob("*.tmp")]


def test_batch_refusals_come_before_any_work(photos, tmp_path, capsys):
    afile = tmp_path / "file"
    afile.write_text("x")
    for argv in (
        ("compress", photos, "-o", afile),
        ("compress", photos),
        ("compress", photos, "-o", tmp_path / "o", "--workers", "0"),
        ("compress", photos, "-o", tmp_path / "o", "--codec", "inr"),
        ("compress", tmp_path / "missing", "-o", tmp_path / "o"),
    ):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1, (argv, err)
    assert not (tmp_path / "o").exists()


def test_plan_mirrors_and_refuses_collisions(photos, tmp_path):
    items = plan_compress([str(photos)], str(tmp_path / "o"))
    assert [i.key for i in items][:3] == ["p0.png", "p1.png", "p2.png"]
    other = tmp_path / "x"
    other.mkdir()
    (other / "p0.png").write_bytes((photos / "p1.png").read_bytes())
    with pytest.raises(InputError, match="would both be written"):
        plan_compress([str(photos / "p0.png"), str(other / "*.png")], str(tmp_path / "o"))
    with pytest.raises(InputError, match=r"no .* files under"):
        plan_compress([str(tmp_path / "o*")], str(tmp_path / "o"))


def test_manifest_ignores_a_line_cut_by_a_kill(tmp_path):
    path = tmp_path / MANIFEST
    path.write_text(json.dumps({"key": "a", "status": "ok"}) + "\n" + '{"key": "b", "sta')
    manifest = Manifest(path)
    assert set(manifest.facts) == {"a"}
    manifest.append({"key": "b", "status": "failed"})
    assert Manifest(path).status("b") == "failed"
    assert os.path.getsize(path) > 0


def test_ray_engine_writes_the_same_bytes_on_a_local_instance(photos, tmp_path, capsys):
    """Ray local, started for the run and shut down after, inside a network namespace
    whose only interface is loopback (so it is reachable from 127.0.0.1 only): the same
    files as the local engine, and a local rerun resumes from its manifest."""
    pytest.importorskip("ray")
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    run_cli(capsys, "compress", photos, "-o", local, *QUALITY)
    argv = ["--quiet", "compress", str(photos), "-o", str(ray_out), "--ray", "--workers", "2"]
    report, child = run_isolated(tmp_path / "report.json", *argv, *QUALITY, "--json")
    assert report["code"] == 2, child.stderr.decode()[-2000:]  # the two bad inputs
    summary = json.loads(child.stdout)
    assert summary["engine"] == "ray" and summary["coded"] == 5 and summary["failed"] == 2
    assert _outputs(ray_out) == _outputs(local)
    code, text, _ = run_cli(capsys, "compress", photos, "-o", ray_out, *QUALITY, "--json")
    assert code == 2 and json.loads(text)["skipped"] == 5  # resumes from Ray's manifest


def test_a_coded_folder_decodes_into_a_mirrored_tree_and_resumes(photos, tmp_path, capsys):
    from rdlab.codecs import get_codec

    coded, decoded = tmp_path / "coded", tmp_path / "decoded"
    run_cli(capsys, "compress", photos, "-o", coded, *QUALITY)
    (coded / "junk.rdl").write_bytes(b"RDL? not a container")
    code, text, err = run_cli(capsys, "decompress", coded, "-o", decoded, "--workers", "2",
                              "--json")  # fmt: skip
    report = json.loads(text)
    assert code == 2 and (report["coded"], report["failed"]) == (5, 1)
    assert len(err.strip().splitlines()) == 1 and "junk.rdl" in err
    for key, data in _outputs(coded).items():
        if key == "junk.rdl":
            continue
        expected = get_codec("hyperprior").decode(data)
        image = np.asarray(Image.open(decoded / key[: -len(".rdl")]))
        # the workers use 1 thread, this process 2: the same pixels
        assert np.array_equal(image, expected), key
    (decoded / "p2.png").unlink()
    code, text, _ = run_cli(capsys, "decompress", coded, "-o", decoded, "--json")
    report = json.loads(text)
    assert (report["coded"], report["skipped"], report["failed"]) == (1, 4, 1)
    compare = photos / "p0.png"
    code, _, err = run_cli(capsys, "decompress", coded, "-o", decoded, "--compare", compare)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_resume_reads_unchanged_inputs_by_size_and_time_only(photos, tmp_path, capsys,
                                                             monkeypatch):  # fmt: skip
    """A rerun hashes every output but no input whose size and modification time are as
    recorded; a touched input is hashed (and still skipped), a changed one redone."""
    import shutil

    from rdlab import batch

    tree = tmp_path / "photos"
    shutil.copytree(photos, tree)
    out = tmp_path / "out"
    run_cli(capsys, "compress", tree, "-o", out, *QUALITY)
    settings = _records(out)[0]["settings"]
    hashed: list[str] = []
    real = batch.sha256_of
    monkeypatch.setattr(batch, "sha256_of", lambda p: hashed.append(str(p)) or real(p))

    def todo_after() -> list[str]:
        hashed.clear()
        items = plan_compress([str(tree)], str(out))
        todo, _ = batch.pending(items, Manifest(out / MANIFEST), settings)
        return sorted(i.key for i in todo)

    failed = ["sub/cut.png", "text.png"]
    assert todo_after() == failed
    assert not [p for p in hashed if str(tree) in p]  # no input hashed
    assert len(hashed) == 5  # every output verified
    stat = os.stat(tree / "p1.png")
    os.utime(tree / "p1.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert todo_after() == failed  # the same bytes: still done
    assert [p for p in hashed if str(tree) in p] == [str(tree / "p1.png")]
    img = np.asarray(Image.open(tree / "p2.png")).copy()
    img[0, 0] ^= 1
    Image.fromarray(img).save(tree / "p2.png")
    assert todo_after() == sorted([*failed, "p2.png"])  # changed: redone


def test_ray_engine_retries_an_item_whose_actor_died_then_fails_only_it(tmp_path):
    pytest.importorskip("ray")
    report, _ = run_isolated(tmp_path / "report.json", "--call",
                             "test_parallel:ray_run_with_a_dying_actor")  # fmt: skip
    value = report["value"]
    assert value["3"].startswith("WorkerDiedError") and "twice" in value["3"]
    assert {k: v for k, v in value.items() if k != "3"} == {str(i): i for i in (0, 1, 2, 4, 5)}
