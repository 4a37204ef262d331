"""The command line: the happy path, and every user error as one line, exit 2, nothing left behind."""

import errno
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import codec
from codec.format.container import read_meta, write_meta
from codec.registry import DEFAULT_MODEL


def _listing(d):
    return sorted(p.name for p in d.iterdir())


def _assert_user_error(r, pattern):
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert "Traceback" not in r.output
    err = r.stderr.strip().splitlines()
    assert err and err[-1].startswith("regen-codec: error:"), r.output
    assert __import__("re").search(pattern, err[-1]), err[-1]


def test_encode_decode_info(cli, png_file, tmp_path, photo):
    out = tmp_path / "photo.jpg"
    r = cli("encode", png_file, "-o", out, "--quality", 25)
    assert r.exit_code == 0, r.output
    assert "bpp" in r.stdout and out.stat().st_size > 0
    r = cli("decode", out, "-o", tmp_path / "back.png")
    assert r.exit_code == 0, r.output
    back = np.asarray(Image.open(tmp_path / "back.png"))
    assert back.shape == photo.shape
    r = cli("info", out)
    assert r.exit_code == 0 and DEFAULT_MODEL in r.stdout and "4:2:0" in r.stdout
    assert "JPEG quality:    25 (table set regen-v1)" in r.stdout  # exact: the file names its set


def test_default_output_names(cli, png_file, tmp_path):
    assert cli("encode", png_file).exit_code == 0
    assert (tmp_path / "photo.rc.jpg").is_file()
    assert cli("decode", tmp_path / "photo.rc.jpg").exit_code == 0
    assert (tmp_path / "photo.rc.png").is_file()


def test_one_file_with_glob_characters_in_its_name(cli, png_file, tmp_path):
    """`photo[1].png` was taken for a glob, so one such file needed an output folder."""
    odd = tmp_path / "photo[1] *?.png"
    png_file.rename(odd)
    r = cli("encode", odd, "--no-fit")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "photo[1] *?.rc.jpg").is_file()
    r = cli("decode", tmp_path / "photo[1] *?.rc.jpg", "-o", tmp_path / "back[1].png")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "back[1].png").is_file()


@pytest.mark.parametrize("ext,fmt", [(".tif", "TIFF"), (".webp", "WEBP"), (".jpg", "JPEG")])
def test_decode_format_follows_extension(cli, png_file, tmp_path, ext, fmt):
    cli("encode", png_file, "-o", tmp_path / "a.jpg")
    assert cli("decode", tmp_path / "a.jpg", "-o", tmp_path / f"b{ext}").exit_code == 0
    assert Image.open(tmp_path / f"b{ext}").format == fmt


def test_unknown_output_extension(cli, png_file, tmp_path):
    cli("encode", png_file, "-o", tmp_path / "a.jpg")
    _assert_user_error(cli("decode", tmp_path / "a.jpg", "-o", tmp_path / "b.xyz"), "unknown output format")
    assert "b.xyz" not in _listing(tmp_path)


def test_missing_input(cli, tmp_path):
    _assert_user_error(cli("encode", tmp_path / "nope.png", "-o", tmp_path / "o.jpg"), "no such file")
    _assert_user_error(cli("decode", tmp_path / "nope.jpg"), "no such file")
    _assert_user_error(cli("info", tmp_path / "nope.jpg"), "no such file")
    assert _listing(tmp_path) == []


def test_directory_as_input_needs_an_output_folder(cli, tmp_path):
    _assert_user_error(cli("encode", tmp_path, "-o", tmp_path / "o.jpg"), "output folder")
    _assert_user_error(cli("encode", tmp_path, "-o", tmp_path / "out"), "no input files")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_input(cli, png_file, tmp_path):
    png_file.chmod(0)
    try:
        _assert_user_error(cli("encode", png_file, "-o", tmp_path / "o.jpg"), "cannot read")
    finally:
        png_file.chmod(0o644)


def test_non_image_input(cli, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image at all\n" * 20)
    _assert_user_error(cli("encode", bad, "-o", tmp_path / "o.jpg"), "not an image")
    _assert_user_error(cli("decode", bad, "-o", tmp_path / "o.png"), "not a")
    assert _listing(tmp_path) == ["notes.txt"]


def test_truncated_jpeg(cli, png_file, tmp_path):
    full = codec.encode(png_file)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full[: len(full) // 2])
    _assert_user_error(cli("decode", cut, "-o", tmp_path / "o.png"), "truncated|damaged")
    cut.write_bytes(full[:300])
    _assert_user_error(cli("decode", cut, "-o", tmp_path / "o.png"), "truncated|damaged")
    assert "o.png" not in _listing(tmp_path)


def test_unknown_model(cli, png_file, tmp_path, user_models):
    _assert_user_error(cli("encode", png_file, "-o", tmp_path / "o.jpg", "--model", "ghost"),
                       "'ghost' is not installed.*models import")
    meta = read_meta(codec.encode(png_file))
    meta.model_id = "ghost"
    f = tmp_path / "ghost.jpg"
    f.write_bytes(write_meta(codec.encode(png_file), meta))
    _assert_user_error(cli("decode", f, "-o", tmp_path / "o.png"), "'ghost' is not installed")
    assert "o.jpg" not in _listing(tmp_path) and "o.png" not in _listing(tmp_path)


def test_hash_mismatch(cli, png_file, tmp_path):
    data = codec.encode(png_file)
    meta = read_meta(data)
    meta.model_sha256 = "12" * 32  # another model's (all zeros is no hash: a damaged file)
    f = tmp_path / "other.jpg"
    f.write_bytes(write_meta(data, meta))
    _assert_user_error(cli("decode", f, "-o", tmp_path / "o.png"), f"{DEFAULT_MODEL}.*hash mismatch")


def test_existing_output_needs_force(cli, png_file, tmp_path):
    out = tmp_path / "o.jpg"
    out.write_bytes(b"precious")
    _assert_user_error(cli("encode", png_file, "-o", out), "already exists.*--force")
    assert out.read_bytes() == b"precious"
    assert cli("encode", png_file, "-o", out, "--force").exit_code == 0
    assert read_meta(out.read_bytes()) is not None


def test_outputs_get_the_permissions_a_plain_write_gives(cli, png_file, tmp_path):
    """Not mkstemp's 0600: other users and services read what encode and decode write; a file
    replaced with --force keeps its permissions."""
    from codec.io.fileio import _UMASK  # the process's umask, read once

    assert cli("encode", png_file, "-o", tmp_path / "a.jpg").exit_code == 0
    assert cli("decode", tmp_path / "a.jpg", "-o", tmp_path / "a.png").exit_code == 0
    assert cli("pack", tmp_path / "a.jpg", "-o", tmp_path / "a.jxl").exit_code == 0
    for name in ("a.jpg", "a.png", "a.jxl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~_UMASK != 0o600
    (tmp_path / "a.png").chmod(0o640)
    assert cli("decode", tmp_path / "a.jpg", "-o", tmp_path / "a.png", "--force").exit_code == 0
    assert stat.S_IMODE((tmp_path / "a.png").stat().st_mode) == 0o640


def test_input_is_never_overwritten(cli, png_file, tmp_path):
    cli("encode", png_file, "-o", tmp_path / "a.jpg")
    before = (tmp_path / "a.jpg").read_bytes()
    for args in (("encode", tmp_path / "a.jpg", "-o", tmp_path / "a.jpg", "--force", "--reencode"),
                 ("decode", tmp_path / "a.jpg", "-o", tmp_path / "a.jpg", "--force"),
                 ("decode", tmp_path / "a.jpg", "-o", tmp_path / "." / "a.jpg", "--force")):
        _assert_user_error(cli(*args), "refusing to overwrite the input")
    assert (tmp_path / "a.jpg").read_bytes() == before


def test_unwritable_output_directory(cli, png_file, tmp_path):
    _assert_user_error(cli("encode", png_file, "-o", tmp_path / "no" / "such" / "o.jpg"),
                       "does not exist")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _assert_user_error(cli("encode", png_file, "-o", blocker / "o.jpg"), "does not exist")


def test_disk_full_leaves_nothing(cli, png_file, tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    _assert_user_error(cli("encode", png_file, "-o", tmp_path / "o.jpg"), "disk full")
    assert _listing(tmp_path) == ["photo.png"]


def test_huge_input_is_refused(cli, png_file, tmp_path):
    _assert_user_error(cli("encode", png_file, "-o", tmp_path / "o.jpg", "--max-pixels", 100),
                       "megapixels")


def test_bad_quality_is_a_usage_error(cli, png_file, tmp_path):
    r = cli("encode", png_file, "-o", tmp_path / "o.jpg", "--quality", 0)
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_max_pixels_below_one_is_a_usage_error(cli, png_file, tmp_path):
    """--max-pixels -1 was taken, then refused every image 'above the limit of -0' megapixels."""
    for bad in (0, -1):
        r = cli("encode", png_file, "-o", tmp_path / "o.jpg", "--max-pixels", bad)
        assert r.exit_code == 2 and "Invalid value for '--max-pixels'" in r.output
        assert "megapixels" not in r.output and not (tmp_path / "o.jpg").exists()


def test_models_listing(cli):
    r = cli("models")
    assert r.exit_code == 0
    header = r.stdout.splitlines()[0]
    for col in ("ID", "MODE", "PARAMS", "MACS/PX", "SHA256", "SOURCE", "ROLE"):
        assert col in header
    assert "regen-fast" in r.stdout


@pytest.mark.parametrize("cmd", [[], ["encode"], ["decode"], ["info"], ["models"],
                                 ["models", "import"], ["demo"], ["train", "regen"]])
def test_help_explains_options(cli, cmd):
    r = cli(*cmd, "--help")
    assert r.exit_code == 0 and "Usage:" in r.stdout
    if cmd in (["encode"], ["decode"]):
        assert "default" in r.stdout and "--force" in r.stdout
    if cmd == ["decode"]:
        assert "pixels" in r.stdout and "auto" in r.stdout


def test_real_process_prints_one_line_and_exits_2(tmp_path):
    p = subprocess.run([sys.executable, "-m", "codec", "encode", str(tmp_path / "missing.png")],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and p.stderr.startswith("regen-codec: error:")


def test_plain_jpeg_decode_says_default_model_on_stderr(cli, photo, tmp_path):
    from .conftest import jpeg_bytes

    f = tmp_path / "plain.jpg"
    f.write_bytes(jpeg_bytes(photo, 30))
    r = cli("decode", f, "-o", tmp_path / "o.png")
    assert r.exit_code == 0, r.output
    assert "warning: no regen-codec metadata" in r.stderr and DEFAULT_MODEL in r.stderr
    assert Image.open(tmp_path / "o.png").size == (photo.shape[1], photo.shape[0])


def test_conversion_warnings_reach_stderr(cli, photo, tmp_path):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    r = cli("encode", tmp_path / "a.png", "-o", tmp_path / "a.jpg")
    assert r.exit_code == 0 and "warning: alpha channel dropped" in r.stderr


@pytest.mark.parametrize("args, pattern", [
    (["encode", "x.png", "-q", "0"], "'--quality': 0 is not in the range.*encode --help"),
    (["encode", "--qualty", "5", "x.png"], "No such option '--qualty'. Did you mean '--quality'"),
    (["encode"], "Missing argument"),
    (["encodee"], "No such command 'encodee'"),
    (["train", "regen", "--steps", "many"], "'many' is not a valid integer.*train regen --help"),
])
def test_usage_errors_are_one_line(args, pattern):
    """A bad option value, a missing argument or an unknown command: one line on stderr, exit
    status 2 (not Click's Usage / Try / Error block); a bare command still shows its help."""
    import re

    r = subprocess.run([sys.executable, "-m", "codec", *args], capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == "", r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("regen-codec: error: "), r.stderr
    assert re.search(pattern, lines[0]), lines[0]


def test_a_bare_command_shows_its_help():
    r = subprocess.run([sys.executable, "-m", "codec"], capture_output=True, text=True)
    assert r.stdout.startswith("Usage: regen-codec") and "encode" in r.stdout and not r.stderr


def test_output_named_as_a_folder_or_as_another_format(cli, png_file, tmp_path):
    """`-o out/` names a folder (it is made), never a file called `out`; an output named as
    another image format than the one written is refused; a name without one is kept."""
    r = cli("encode", png_file, "-o", str(tmp_path / "out") + "/", "--no-fit")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out").is_dir() and (tmp_path / "out" / "photo.jpg").is_file()
    r = cli("decode", str(tmp_path / "out") + "/", "-o", str(tmp_path / "dec") + "/")
    assert r.exit_code == 0 and (tmp_path / "dec" / "photo.png").is_file(), r.output
    _assert_user_error(cli("encode", png_file, "-o", tmp_path / "x.png"), "writes a JPEG.*\\.jpg")
    _assert_user_error(cli("encode", png_file, "-o", tmp_path / "x.jpg", "--pack", "jxl"),
                       "writes JPEG XL.*\\.jxl")
    _assert_user_error(cli("pack", tmp_path / "out" / "photo.jpg", "-o", tmp_path / "p.jpg"),
                       "writes JPEG XL")
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "p.jpg").exists()
    assert cli("encode", png_file, "-o", tmp_path / "0a1b2c", "--no-fit").exit_code == 0
    r = cli("pack", tmp_path / "0a1b2c", "-o", str(tmp_path / "packed") + "/")
    assert r.exit_code == 2 and "does not exist" in r.stderr  # pack does not make folders
    (tmp_path / "packed").mkdir()
    assert cli("pack", tmp_path / "0a1b2c", "-o", str(tmp_path / "packed") + "/").exit_code == 0
    assert (tmp_path / "packed" / "0a1b2c.jxl").is_file()


def test_errors_about_one_input_name_it(cli, png_file, tmp_path):
    """Single-file errors about the input's content name the file (a batch names it in its
    report, once); `info` warns about a file cut short, which its headers alone do not show."""
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    for args in (("decode", text, "-o", tmp_path / "o.png"), ("info", text),
                 ("pack", png_file), ("unpack", png_file)):
        r = cli(*args)
        assert r.exit_code == 2 and f"error: {args[1]}: " in r.stderr, (args, r.stderr)
    assert cli("encode", png_file, "-o", tmp_path / "a.jpg", "--no-fit").exit_code == 0
    cut = tmp_path / "cut.jpg"
    cut.write_bytes((tmp_path / "a.jpg").read_bytes()[:1500])
    r = cli("info", cut)
    assert r.exit_code == 0 and "warning: no end-of-image marker" in r.stderr
    assert "end-of-image" not in cli("info", tmp_path / "a.jpg").stderr
    batch = tmp_path / "in"
    batch.mkdir()
    text.rename(batch / "notes.jpg")
    r = cli("decode", batch, "-o", tmp_path / "out", "--include-plain")  # not a regen-codec file
    assert r.exit_code == 1 and r.stderr.count(str(batch / "notes.jpg")) == 1, r.stderr


def test_demo_at_the_lowest_quality(cli, tmp_path):
    """At quality 1 auto mode would store a half-size comrec file, whose plain decode the demo
    cannot compare with the photo: the demo codes in regen mode at every quality."""
    r = cli("demo", "-q", 1, "--device", "cpu", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    assert "regeneration gain" in r.stdout
    from PIL import Image

    assert Image.open(tmp_path / "plain.png").size == Image.open(tmp_path / "original.png").size


def test_a_closed_pipe_ends_quietly():
    """`regen-codec ... | head -1`: no 'error: Broken pipe', exit status 141 like a shell's."""
    script = ("import click\nfrom codec.cli.commands import cli\n"
              "@cli.command('spam')\ndef spam():\n"
              "    for _ in range(200000):\n        click.echo('x' * 99)\n"
              "cli(['spam'], prog_name='regen-codec')\n")
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.read(10)
    p.stdout.close()  # the reader stops early; 20 MB are still to come
    err = p.stderr.read().decode()
    assert p.wait() == 141 and "error" not in err, err


def test_bench_refuses_qualities_outside_1_to_100_or_none(cli, tmp_path):
    """--qualities 0,101 was measured as given (Pillow took 101); ',,' crashed with
    ZeroDivisionError after the run. Both are now the usual one-line error."""
    for qs in ("0,50", "50,101", ",,"):
        r = cli("bench", tmp_path, "--out", tmp_path / "o", "--methods", "jpeg", "--qualities", qs)
        assert r.exit_code == 2 and "--qualities" in r.stderr, (qs, r.output)
        assert not (tmp_path / "o").exists()
