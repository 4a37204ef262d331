"""Batch encode/decode: tree mirroring, resume by skipping, failures summarized, process pool."""

from pathlib import Path

import numpy as np
from PIL import Image


def _tree(root: Path, photo):
    (root / "a" / "b").mkdir(parents=True)
    Image.fromarray(photo).save(root / "one.png")
    Image.fromarray(photo[:64, :80]).save(root / "a" / "two.png")
    Image.fromarray(photo[10:90, 20:100]).save(root / "a" / "b" / "three.jpg", quality=90)
    (root / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (root / "a" / "notes.txt").write_text("not an image, not picked up")


def test_batch_encode_decode_mirrors_tree_and_resumes(cli, tmp_path, photo):
    src = tmp_path / "src"
    _tree(src, photo)
    out = tmp_path / "out"
    r = cli("encode", src, "-o", out, "-q", 30)
    assert r.exit_code == 1, r.output  # one broken file
    assert "3 done, 0 skipped" in r.stdout and "1 failed" in r.stdout
    assert "failed:" in r.stderr and "broken.png" in r.stderr
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert made == ["a/b/three.jpg", "a/two.jpg", "one.jpg"]
    # originals untouched, no temporary files left
    assert not list(tmp_path.rglob("*.part"))
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    (out / "a" / "two.jpg").unlink()
    r = cli("encode", src, "-o", out, "-q", 30)
    assert "1 done, 2 skipped" in r.stdout
    assert all(p.stat().st_mtime_ns == t for p, t in before.items() if p.exists() and p.name != "two.jpg")

    dec = tmp_path / "dec"
    r = cli("decode", out, "-o", dec, "--jobs", 2)
    assert r.exit_code == 0, r.output
    assert "3 done" in r.stdout
    back = np.asarray(Image.open(dec / "a" / "two.png"))
    assert back.shape == (64, 80, 3)


def test_glob_and_several_files(cli, tmp_path, photo):
    src = tmp_path / "src"
    _tree(src, photo)
    out = tmp_path / "g"
    r = cli("encode", str(src / "**" / "*.png"), "-o", out)
    assert r.exit_code == 1  # broken.png matches too
    assert (out / "one.jpg").is_file() and (out / "two.jpg").is_file()
    r = cli("encode", src / "one.png", src / "a" / "two.png", "-o", tmp_path / "h")
    assert r.exit_code == 0 and "2 done" in r.stdout


def test_several_inputs_need_output_folder(cli, tmp_path, photo):
    src = tmp_path / "src"
    _tree(src, photo)
    r = cli("encode", src / "one.png", src / "a" / "two.png")
    assert r.exit_code == 2 and "-o DIR" in r.stderr


def test_force_redoes_existing_outputs_in_a_batch(cli, tmp_path, photo):
    """--force once did nothing in batch mode: existing outputs were still skipped."""
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(photo).save(src / "one.png")
    out = tmp_path / "out"
    assert cli("encode", src, "-o", out, "-q", 30, "--no-fit").exit_code == 0
    (out / "one.jpg").write_bytes(b"stale")
    r = cli("encode", src, "-o", out, "-q", 30, "--no-fit")
    assert "0 done, 1 skipped" in r.stdout and (out / "one.jpg").read_bytes() == b"stale"
    r = cli("encode", src, "-o", out, "-q", 30, "--no-fit", "--force")
    assert r.exit_code == 0, r.output
    assert "1 done, 0 skipped" in r.stdout and (out / "one.jpg").read_bytes()[:2] == b"\xff\xd8"
    dec = tmp_path / "dec"
    assert cli("decode", out, "-o", dec).exit_code == 0
    (dec / "one.png").write_bytes(b"stale")
    r = cli("decode", out, "-o", dec, "--force")
    assert r.exit_code == 0 and "1 done, 0 skipped" in r.stdout
    assert Image.open(dec / "one.png").size == (photo.shape[1], photo.shape[0])


def test_output_folder_inside_the_input_folder_is_not_an_input(cli, tmp_path, photo):
    """With -o inside the searched folder, each rerun encoded the last run's outputs again
    (out/out/one.jpg, then out/out/out/...) instead of skipping what was done."""
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(photo).save(src / "one.png")
    out = src / "out"
    r = cli("encode", src, "-o", out, "--no-fit")
    assert r.exit_code == 0 and "1 done" in r.stdout
    r = cli("encode", src, "-o", out, "--no-fit")
    assert r.exit_code == 0 and "0 done, 1 skipped" in r.stdout, r.output
    assert sorted(str(p.relative_to(src)) for p in src.rglob("*") if p.is_file()) == [
        "one.png", "out/one.jpg"]


def test_output_subfolder_that_cannot_be_made_fails_only_its_files(cli, tmp_path, photo):
    """A file where an output subfolder belongs stopped the whole batch with exit 2 and no
    summary; it now fails the files below it, reported at the end with exit 1."""
    src = tmp_path / "src"
    _tree(src, photo)
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}"
        out.mkdir()
        (out / "a").write_text("a file where the folder a/ belongs")
        r = cli("encode", src, "-o", out, "--no-fit", "--jobs", jobs)
        assert r.exit_code == 1, r.output
        assert "1 done" in r.stdout and "3 failed" in r.stdout  # two.png, three.jpg, broken.png
        assert (out / "one.jpg").is_file() and (out / "a").read_text().startswith("a file")


def test_one_file_named_twice_is_done_once(cli, png_file, tmp_path):
    """`encode a.png *.png -o out`: the same file twice is one job, not a clash."""
    r = cli("encode", png_file, str(png_file.parent / "*.png"), "-o", tmp_path / "out",
            "--no-fit")
    assert r.exit_code == 0, r.output
    assert "1 done" in r.output and (tmp_path / "out" / png_file.with_suffix(".jpg").name).is_file()


def test_scheduler_with_one_file_says_it_runs_here(cli, png_file, tmp_path):
    r = cli("encode", png_file, "-o", tmp_path / "a.jpg", "--no-fit", "--scheduler",
            "tcp://127.0.0.1:1")
    assert r.exit_code == 0 and "--scheduler is for batches" in r.stderr, r.output
