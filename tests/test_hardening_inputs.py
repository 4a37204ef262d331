"""Hostile and odd inputs get a clean result or one clean error; nothing leaks to stderr.

Odd metadata (garbage or oversized EXIF), library chatter, float and multi-frame images."""

from __future__ import annotations

import io
import os
import struct
import warnings

import numpy as np
import pytest
from PIL import Image

from codec.errors import CodecError
from codec.io.imageio import CodecWarning, load_image


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """`jpeg` with one more segment right after SOI."""
    return jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _encode(data: bytes) -> bytes:
    """The cheapest full encode (no search, no fit, no network run) of an input's bytes."""
    from codec.api import encode

    return encode(data, quality=40, mode="regen", fit=False, effort=0)


# --- unreadable or oversized metadata is dropped, the picture encoded --------------------------

def test_garbage_exif_is_dropped_with_a_warning(photo):
    data = _with_segment(_save(Image.fromarray(photo), "JPEG"), 0xE1, b"Exif\0\0" + b"garbage!" * 20)
    with pytest.warns(CodecWarning, match="EXIF"):
        src = load_image(data)
    assert src.exif is None and src.size == (photo.shape[1], photo.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodecWarning)
        out = Image.open(io.BytesIO(_encode(data)))
    assert out.size == src.size


def test_exif_too_large_for_a_jpeg_is_dropped_with_a_warning(photo):
    exif = Image.Exif()
    exif[0x010E] = "x" * 70_000  # ImageDescription: more than a JPEG segment holds
    data = _save(Image.fromarray(photo), "PNG", exif=exif.tobytes())
    with pytest.warns(CodecWarning, match="EXIF.*too large"):
        src = load_image(data)
    assert src.exif is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodecWarning)
        assert Image.open(io.BytesIO(_encode(data))).size == src.size


def test_exif_that_fits_is_kept(photo):
    exif = Image.Exif()
    exif[0x010E] = "a cat"
    src = load_image(_save(Image.fromarray(photo), "PNG", exif=exif.tobytes()))
    assert src.exif is not None and b"a cat" in src.exif


# --- library chatter and object reprs ---------------------------------------------------------

def _lzw_tiff_with_bad_code(photo) -> bytes:
    """An LZW TIFF whose first code is not the clear code: libtiff prints "Using code not yet in
    table" on stderr (the strip starts at byte 8, where Pillow writes it)."""
    data = bytearray(_save(Image.fromarray(photo[:16, :20]), "TIFF", compression="tiff_lzw"))
    assert Image.open(io.BytesIO(bytes(data))).tag_v2[273] == (8,)
    data[8] = 0xFF
    return bytes(data)


def test_libtiff_chatter_becomes_the_error_naming_the_file(photo, capfd):
    with pytest.raises(CodecError) as exc:
        load_image(_lzw_tiff_with_bad_code(photo), name="scan.tif")
    msg = str(exc.value)
    assert msg.startswith("scan.tif: ") and "Using code not yet in table" in msg
    assert "tempfile" not in msg and "\n" not in msg
    err = capfd.readouterr().err
    assert "not yet in table" not in err and "tempfile" not in err


def test_unidentified_data_has_no_object_repr():
    with pytest.raises(CodecError) as exc:
        load_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 40, name="x.png")
    assert "object at 0x" not in str(exc.value) and str(exc.value).startswith("x.png: ")


def test_damaged_jpeg_errors_have_no_object_repr(photo):
    from codec.api import info

    data = bytearray(_save(Image.fromarray(photo), "JPEG"))
    data[data.index(b"\xff\xc0") + 9] = 55  # the frame claims 55 components: Pillow gives up
    with pytest.raises(CodecError) as exc:
        info(bytes(data))
    assert "object at 0x" not in str(exc.value) and "BytesIO" not in str(exc.value)


def _arithmetic_jpeg(photo) -> bytes:
    import tempfile
    from pathlib import Path

    import jpeglib

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "a.jpg"
        with jpeglib.version("9e"):
            jpeglib.from_spatial(np.ascontiguousarray(photo[:32, :48])).write_spatial(
                str(path), flags=["+ARITH_CODE"])
        data = path.read_bytes()
    assert b"\xff\xc9" in data  # SOF9: arithmetic coding
    return data


def test_arithmetic_jpeg_decodes_without_libjpeg_chatter(photo, capfd):
    from codec.api import decode

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = decode(_arithmetic_jpeg(photo), device="cpu")
    assert img.size == (48, 32)
    err = capfd.readouterr().err
    assert "Sorry" not in err and "arithmetic" not in err
    texts = [str(w.message) for w in caught]
    assert not any("/tmp" in t or ".jpg" in t for t in texts), texts
    assert any("consistency skipped" in t and "arithmetic" in t for t in texts), texts


# --- float images --------------------------------------------------------------------------------

def _float_tiff(a: np.ndarray) -> bytes:
    return _save(Image.fromarray(a.astype(np.float32), "F"), "TIFF")


def test_float_image_in_0_1_is_scaled_from_its_range(photo):
    gray = photo[..., 1].astype(np.float64)
    with pytest.warns(CodecWarning, match="0-1"):
        src = load_image(_float_tiff(gray / 255))
    assert np.abs(src.rgb[..., 0].astype(float) - gray).max() <= 1


def test_float_image_in_0_255_is_kept(photo):
    gray = photo[..., 1].astype(np.float64)
    with pytest.warns(CodecWarning, match="float"):
        src = load_image(_float_tiff(gray))
    assert np.abs(src.rgb[..., 0].astype(float) - gray).max() <= 1


@pytest.mark.parametrize("bad", [np.nan, np.inf, -0.5, 1e6])
def test_float_image_out_of_any_range_is_refused(photo, bad):
    a = photo[..., 1].astype(np.float64) / 255
    a[3, 4] = bad
    with pytest.raises(CodecError, match="float"):
        load_image(_float_tiff(a), name="f.tif")


# --- several frames ----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF", "PNG"])
def test_only_the_first_frame_is_encoded_with_a_warning(photo, fmt):
    frames = [Image.fromarray(np.roll(photo, 7 * k, 1)) for k in range(3)]
    data = _save(frames[0], fmt, save_all=True, append_images=frames[1:])
    with pytest.warns(CodecWarning, match="only the first of 3 frames"):
        src = load_image(data)
    first = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(src.rgb, first)


def test_a_single_frame_gives_no_frame_warning(photo, recwarn):
    load_image(_save(Image.fromarray(photo), "GIF"))
    assert not any("frame" in str(w.message) for w in recwarn)


# --- outputs: a file that appears meanwhile is kept; --force replaces regular files only -------

def _no_renameat2(monkeypatch):
    import codec.io.fileio as fileio

    monkeypatch.setattr(fileio, "_rename_noreplace", lambda tmp, out: False)


def _no_links_either(monkeypatch):
    import errno
    import os

    _no_renameat2(monkeypatch)

    def link(*a, **k):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", link)


@pytest.mark.parametrize("limit", [None, _no_renameat2, _no_links_either],
                         ids=["renameat2", "link", "exclusive-create"])
def test_a_file_that_appeared_before_the_final_step_is_kept(tmp_path, monkeypatch, limit):
    from codec.io.fileio import atomic_write, check_output

    if limit is not None:
        limit(monkeypatch)
    out = tmp_path / "out.jpg"
    check_output(out, [], force=False)  # passes: nothing there yet
    out.write_bytes(b"the other writer's file")  # ... then another process finishes first
    with pytest.raises(CodecError, match="already exists"):
        atomic_write(out, b"ours", force=False)
    assert out.read_bytes() == b"the other writer's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg"]  # no temporary left
    atomic_write(tmp_path / "new.jpg", b"ours", force=False)
    assert (tmp_path / "new.jpg").read_bytes() == b"ours"


def test_of_two_simultaneous_writers_exactly_one_wins(tmp_path):
    import threading

    from codec.io.fileio import atomic_write

    for trial in range(20):
        out = tmp_path / f"out{trial}.jpg"
        start, outcomes = threading.Barrier(2), []

        def write(tag: bytes) -> None:
            start.wait()
            try:
                atomic_write(out, tag * 100_000, force=False)
                outcomes.append(tag)
            except CodecError as exc:
                assert "already exists" in str(exc)

        threads = [threading.Thread(target=write, args=(t,)) for t in (b"a", b"b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(outcomes) == 1 and out.read_bytes() == outcomes[0] * 100_000


def test_cli_loser_of_a_race_exits_2_with_exists(tmp_path, monkeypatch, cli, photo):
    import codec.cli.commands
    import codec.format.pack
    from tests.conftest import jpeg_bytes

    src, out = tmp_path / "in.jpg", tmp_path / "out.jxl"
    src.write_bytes(jpeg_bytes(photo))
    real = codec.format.pack.pack

    def pack_while_another_writes(data: bytes) -> bytes:
        out.write_bytes(b"the winner's file")
        return real(data)

    monkeypatch.setattr(codec.cli.commands, "do_pack", pack_while_another_writes)  # as `pack` calls it
    r = cli("pack", src, "-o", out)
    assert r.exit_code == 2 and "exists" in r.stderr and r.stderr.count("\n") == 1
    assert out.read_bytes() == b"the winner's file"


def _special_files(tmp_path):
    import os
    import stat

    fifo = tmp_path / "fifo.jxl"
    os.mkfifo(fifo)
    link = tmp_path / "link.jxl"
    (tmp_path / "target.jpg").write_bytes(b"kept")
    link.symlink_to(tmp_path / "target.jpg")
    found = {"FIFO": fifo, "symbolic link": link}
    try:  # a character device, where we may make one (root)
        dev = tmp_path / "null.jxl"
        os.mknod(dev, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        found["character device"] = dev
    except (PermissionError, AttributeError):
        pass
    return found


def test_force_replaces_regular_files_only(tmp_path, cli, photo):
    import stat

    from tests.conftest import jpeg_bytes

    src = tmp_path / "in.jpg"
    src.write_bytes(jpeg_bytes(photo))
    for kind, path in _special_files(tmp_path).items():
        before = path.lstat()
        r = cli("pack", src, "-o", path, "--force")
        assert r.exit_code == 2 and "regular files only" in r.stderr and kind in r.stderr, kind
        after = path.lstat()
        assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode), kind
        assert after.st_ino == before.st_ino, kind
    assert (tmp_path / "target.jpg").read_bytes() == b"kept"
    regular = tmp_path / "old.jxl"
    regular.write_bytes(b"old")
    assert cli("pack", src, "-o", regular, "--force").exit_code == 0
    assert regular.read_bytes() != b"old"


# --- processes: workers die with their parent, one death fails one file, signals stop cleanly --

def _double_or_die(item: int) -> int:
    """A task for the pool: item 3 kills its own worker, as the OOM killer would."""
    import os
    import signal

    if item == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return 2 * item


def test_a_dead_workers_task_alone_fails_and_the_pool_goes_on():
    from codec.batch.workers import WorkerDied, imap_unordered

    got = dict(imap_unordered(_double_or_die, range(8), 2))
    assert sorted(got) == list(range(8))
    assert isinstance(got[3], WorkerDied) and "SIGKILL" in str(got[3])
    assert {k: v for k, v in got.items() if k != 3} == {k: 2 * k for k in range(8) if k != 3}


def _write_or_die(src, dst) -> int:
    import os
    import signal

    if src.name == "b.png":
        (dst.parent / f".{dst.name}.x.part").write_bytes(b"half")  # killed mid-write
        os.kill(os.getpid(), signal.SIGKILL)
    dst.write_bytes(b"ok")
    return 2


def test_batch_reports_the_killed_workers_file_and_does_the_rest(tmp_path):
    from codec.batch import jobs as batch

    srcs = []
    for name in "abcde":
        p = tmp_path / f"{name}.png"
        p.write_bytes(b"x")
        srcs.append(p)
    out = tmp_path / "out"
    out.mkdir()
    res = batch.run([batch.Job(s, out / s.with_suffix(".jpg").name) for s in srcs], _write_or_die,
                    n_jobs=2, progress=False)
    assert [p.name for p, _ in res.failed] == ["b.png"] and "died" in res.failed[0][1]
    assert sorted(p.name for p in res.done) == ["a.png", "c.png", "d.png", "e.png"]
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "c.jpg", "d.jpg", "e.jpg"]


_POOL_SCRIPT = """
import os, sys, time
from pathlib import Path
from codec.batch import jobs as batch

def work(src, dst):
    (Path(sys.argv[1]) / str(os.getpid())).write_text("")
    (dst.parent / f".{dst.name}.x.part").write_bytes(b"half")
    time.sleep(60)
    return 0

if __name__ == "__main__":
    d = Path(sys.argv[1]).parent
    jobs = [batch.Job(d / f"{k}.png", d / "out" / f"{k}.jpg") for k in range(6)]
    (d / "out").mkdir()
    try:
        batch.run(jobs, work, n_jobs=2, progress=False)
    except batch.Stopped as exc:
        print(exc, flush=True)
        sys.exit(128 + exc.signum)
"""


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_pool(tmp_path):
    import os
    import subprocess
    import sys
    import time

    script = tmp_path / "pool.py"
    script.write_text(_POOL_SCRIPT)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, str(script), str(marks)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while len(list(marks.iterdir())) < 2:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.1)
    return proc, [int(p.name) for p in marks.iterdir()]


def _gone_soon(pids: list[int], seconds: float = 10) -> bool:
    import time

    deadline = time.time() + seconds
    while any(_alive(p) for p in pids):
        if time.time() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.slow
@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="reads /proc")
def test_workers_die_when_their_parent_is_killed(tmp_path):
    import signal

    proc, workers = _start_pool(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _gone_soon(workers), "workers outlived their parent"


@pytest.mark.slow
@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_batch_cleanly(tmp_path, sig):
    import signal

    proc, workers = _start_pool(tmp_path)
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + getattr(signal, sig), err
    assert f"stopped by {sig}" in out and "0 done" in out and "not done" in out
    assert "Traceback" not in err, err
    assert _gone_soon(workers)
    assert list((tmp_path / "out").iterdir()) == []  # no temporary file left behind


def test_sigterm_while_writing_leaves_no_part_file(cli, photo, tmp_path, monkeypatch):
    """A single-file encode killed by SIGTERM while it wrote left `.out.jpg.XXXX.part` behind:
    SIGTERM now unwinds like Ctrl-C (exit 143, "terminated"), so the temporary file is removed."""
    import signal

    import codec.io.fileio as fileio

    src = tmp_path / "in.png"
    Image.fromarray(photo).save(src)
    real_fsync = fileio.os.fsync

    def fsync_then_killed(fd):
        real_fsync(fd)
        os.kill(os.getpid(), signal.SIGTERM)  # the handler raises at the next bytecode

    monkeypatch.setattr(fileio.os, "fsync", fsync_then_killed)
    before = signal.getsignal(signal.SIGTERM)
    r = cli("encode", src, "-o", tmp_path / "out.jpg", "--effort", "0")
    assert r.exit_code == 143 and "terminated" in r.stderr, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]
    assert signal.getsignal(signal.SIGTERM) == before  # the CLI's handler is gone after it
