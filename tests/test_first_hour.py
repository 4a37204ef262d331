"""What a new user meets in the first hour: fast light commands, batches that leave their own
outputs and plain JPEGs alone, errors that name the real problem, readable listings and reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import codec

ROOT = Path(__file__).resolve().parents[1]


def _run_without_torch(commands: list[list[str]], cwd: Path) -> dict:
    """Run each CLI command in one fresh interpreter; {command: (exit code, torch loaded)}."""
    script = (
        "import json, sys\n"
        "from codec.cli.commands import cli\n"
        "seen = {}\n"
        f"for args in {commands!r}:\n"
        "    try:\n"
        "        cli(args, prog_name='regen-codec')\n"
        "    except SystemExit as e:\n"
        "        code = e.code\n"
        "    seen[' '.join(args)] = (code, 'torch' in sys.modules)\n"
        "print(json.dumps(seen), file=sys.stderr)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=120)
    return json.loads(r.stderr.strip().splitlines()[-1])


def test_light_commands_do_not_import_torch(tmp_path, photo):
    """--version, --help, info, models, pack and unpack need no network: importing PyTorch
    (2-3 s) made each of them slow."""
    (tmp_path / "p.jpg").write_bytes(codec.encode(photo, effort=0, fit=False, mode="regen"))
    Image.fromarray(photo).save(tmp_path / "plain.jpg")
    commands = [["--version"], ["--help"], ["encode", "--help"], ["info", "p.jpg"],
                ["info", "plain.jpg"], ["models"], ["models", "list", "--json"],
                ["pack", "p.jpg"], ["unpack", "p.jxl", "-o", "back.jpg"], ["info", "p.jxl"]]
    seen = _run_without_torch(commands, tmp_path)
    assert (tmp_path / "back.jpg").read_bytes() == (tmp_path / "p.jpg").read_bytes()
    for cmd, (code, torch_loaded) in seen.items():
        assert code in (0, None), (cmd, code)
        assert not torch_loaded, f"`regen-codec {cmd}` imported torch"


@pytest.fixture()
def cli():
    """Invoke `regen-codec` in-process; result.stdout / result.stderr / result.exit_code."""
    from click.testing import CliRunner

    from codec.cli.commands import cli as group

    runner = CliRunner()
    return lambda *args: runner.invoke(group, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture()
def tree(tmp_path, photo):
    """photos/a.png and photos/sub/b.png (two small photos) and photos/sub/plain.jpg."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(photo[:64, :80]).save(root / "a.png")
    Image.fromarray(photo[40:104, 60:140]).save(root / "sub" / "b.png")
    Image.fromarray(photo[:64, 80:160]).save(root / "sub" / "plain.jpg", quality=85)
    return root


FAST = ("--effort", "0", "--no-fit", "--mode", "regen")


def test_batch_encode_leaves_out_regen_files_whatever_their_name(cli, tree, tmp_path):
    """A second `encode photos/ -o photos/` compressed the first run's outputs again."""
    r = cli("encode", tree, "-o", f"{tree}/", *FAST)
    assert r.exit_code == 0, r.output
    (tree / "a.jpg").rename(tree / "renamed.jpeg")  # whatever its name
    before = (tree / "renamed.jpeg").read_bytes()
    r = cli("encode", tree, "-o", tmp_path / "again", *FAST)
    assert r.exit_code == 0, r.output
    assert "left out 2 regen-codec file(s)" in r.stderr and "renamed.jpeg" in r.stderr
    assert "2 left out" in r.stdout
    made = sorted(p.relative_to(tmp_path / "again").as_posix()
                  for p in (tmp_path / "again").rglob("*.jpg"))
    assert made == ["a.jpg", "sub/b.jpg", "sub/plain.jpg"]  # the sources and the plain JPEG
    assert (tree / "renamed.jpeg").read_bytes() == before
    r = cli("encode", tree / "renamed.jpeg", tree / "sub" / "plain.jpg", "-o", tmp_path / "forced",
            "--reencode", *FAST)
    assert r.exit_code == 0 and "left out" not in r.output, r.output
    assert (tmp_path / "forced" / "renamed.jpg").is_file()


def test_encoding_one_regen_file_is_refused_unless_reencode(cli, tree, tmp_path):
    assert cli("encode", tree / "a.png", "-o", tmp_path / "a.jpg", *FAST).exit_code == 0
    r = cli("encode", tmp_path / "a.jpg", *FAST)
    assert r.exit_code == 2 and "is a regen-codec file already" in r.stderr, r.output
    assert "--reencode" in r.stderr and not (tmp_path / "a.rc.jpg").exists()
    r = cli("encode", tmp_path / "a.jpg", "--reencode", *FAST)
    assert r.exit_code == 0 and (tmp_path / "a.rc.jpg").is_file(), r.output


def test_folder_decode_leaves_out_plain_jpegs(cli, tree, tmp_path):
    """`decode .` restored every plain JPEG of a photo folder with the default model."""
    assert cli("encode", tree / "a.png", "-o", tree / "a.jpg", *FAST).exit_code == 0
    r = cli("decode", tree, "-o", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert "left out 1 plain JPEG(s)" in r.stderr and "plain.jpg" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.png")) == ["a.png"]
    r = cli("decode", tree, "-o", tmp_path / "all", "--include-plain")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "all").rglob("*.png")) == ["a.png", "plain.png"]
    # named one by one, a plain JPEG is still restored (with a warning), in a batch too
    r = cli("decode", tree / "a.jpg", tree / "sub" / "plain.jpg", "-o", tmp_path / "named")
    assert r.exit_code == 0 and "left out" not in r.stderr, r.output
    assert (tmp_path / "named" / "plain.png").is_file()


def test_decoding_a_png_says_what_it_is(cli, tree):
    """It said `refusing to overwrite the input file`: the default output is the PNG's own name."""
    r = cli("decode", tree / "a.png")
    assert r.exit_code == 2, r.output
    assert "is a PNG image, not a regen-codec file" in r.stderr, r.stderr
    assert "overwrite" not in r.stderr
    r = cli("decode", tree / "missing.jpg")
    assert r.exit_code == 2 and "no such file" in r.stderr, r.output


@pytest.mark.slow
def test_encode_steps_show_progress_only_when_asked(photo, capsys):
    """A single encode printed nothing for minutes; the CLI turns the steps' bars on for a
    terminal (codec.utils.progress.shown), and they stay off otherwise."""
    from codec.utils import progress

    small = photo[:64, :96]
    codec.encode(small, quality=5, effort=1)  # off by default: the library is silent
    assert capsys.readouterr().err == ""
    with progress.shown(True):
        codec.encode(small, quality=6, effort=1, mode="regen")  # not the memoized file
        regen = capsys.readouterr().err
        codec.encode(photo, quality=1, effort=0, fit=False, mode="auto")  # below 0.4 bpp
        auto = capsys.readouterr().err
    assert "searching coefficients" in regen and "fitting the restoration strength" in regen
    assert "auto: making the comrec file" in auto and "auto: comparing with comrec files" in auto


@pytest.mark.slow
def test_cli_encode_shows_no_bars_when_not_on_a_terminal(cli, tree, tmp_path):
    r = cli("encode", tree / "a.png", "-o", tmp_path / "a.jpg", "--effort", "1", "-q", "5")
    assert r.exit_code == 0, r.output
    assert r.stderr == "", r.stderr


def test_sizes_in_human_units():
    """A small tree printed `current size of the tree: 0.001 GB`, `projected size: 0.000 GB`."""
    from codec.batch.estimate import human_bytes

    assert [human_bytes(n) for n in (0, 950, 1234, 45_600, 12_345_678, 7.89e9, 1.5e12)] == [
        "0 B", "950 B", "1.23 kB", "45.6 kB", "12.3 MB", "7.89 GB", "1.50 TB"]


def fake_estimate_file(path, *, stop_at: str | None = None, **_):
    """estimate_file without the conversion: half the bytes, 0.1 s per file; Ctrl-C at `stop_at`."""
    from codec.batch.estimate import FileEstimate

    if stop_at is not None and Path(path).name == stop_at:
        raise KeyboardInterrupt
    n = Path(path).stat().st_size
    return FileEstimate(path=str(path), format=Path(path).suffix[1:], megapixels=0.01,
                        current_bytes=n, projected_bytes=n // 2, packed_bytes=n // 3, quality=30,
                        achieved=0.99, seconds=0.1)


@pytest.fixture()
def png_tree(tmp_path, photo):
    for k in range(6):
        Image.fromarray(photo[k:k + 40, :50]).save(tmp_path / f"{k}.png")
    return tmp_path


def test_estimate_interrupted_reports_what_was_done(cli, png_tree, monkeypatch):
    """Ctrl-C threw away the files already converted."""
    from functools import partial

    import codec.batch.estimate as E

    monkeypatch.setattr(E, "estimate_file", partial(fake_estimate_file, stop_at="3.png"))
    r = cli("estimate", png_tree, "--sample", 6)
    assert r.exit_code == 130, r.output
    assert r.stdout.startswith("PARTIAL estimate (interrupted): from 3 of the 6 sampled files")
    assert "saving:" in r.stdout and "50.0 %" in r.stdout
    assert "interrupted: a partial estimate, from 3 of the 6" in r.stderr
    r = cli("estimate", png_tree, "--sample", 6, "--json")
    assert r.exit_code == 130
    d = json.loads(r.stdout)
    assert d["partial"] is True and len(d["sample"]) == 3 and d["sample_planned"] == 6
    monkeypatch.setattr(E, "estimate_file", partial(fake_estimate_file, stop_at="0.png"))
    r = cli("estimate", png_tree, "--sample", 6)  # nothing done: just interrupted
    assert r.exit_code == 130 and "PARTIAL" not in r.stdout and "interrupted" in r.stderr


def test_estimate_has_jobs_and_effort(cli, png_tree, monkeypatch):
    import codec.batch.estimate as E

    text = cli("estimate", "--help").stdout
    assert "--jobs" in text and "--effort" in text and "REGEN_CODEC_EFFORT" in text
    seen = {}

    def spy(paths, *a, **k):
        seen.update(k)
        raise codec.CodecError("stop here")

    monkeypatch.setattr(E, "estimate", spy)
    cli("estimate", png_tree, "--jobs", 2, "--effort", 3)
    assert seen["jobs"] == 2 and seen["effort"] == 3
    monkeypatch.undo()
    monkeypatch.setattr(E, "estimate_file", fake_estimate_file)  # forked workers see it too
    r = cli("estimate", png_tree, "--sample", 6, "--jobs", 2, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert not d["partial"] and [Path(s["path"]).name for s in d["sample"]] == [
        f"{k}.png" for k in range(6)]
    assert abs(d["saving_pct"] - 50) < 1
    r = cli("estimate", png_tree, "--sample", 6)
    assert "current size of the tree:" in r.stdout and " kB" in r.stdout and "GB" not in r.stdout


def test_models_listing_aligns_and_gives_roles(cli, user_models, tmp_path):
    """Columns shifted after long IDs (comrec-lowq-rec-com), and three non-default models were
    described as "Default photo restorer" (their weight files' own summaries)."""
    from codec.registry import DEFAULT_COMREC, DEFAULT_MODEL, ROLES, list_models, save_model

    net = codec.create_model("regen-unet", width1=4, width2=4, depth=1)
    save_model(net, "a-rather-long-user-model-id", tmp_path, arch="regen-unet", summary="mine")
    codec.registry.import_model(next(tmp_path.glob("a-rather-long-*.safetensors")))
    r = cli("models")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == len(list_models()) + 1
    starts = {ln.index(" package ") if " package " in ln else ln.index(" user ") for ln in lines[1:]}
    assert len(starts) == 1 and lines[0].index(" SOURCE ") == starts.pop()  # one column
    rows = {ln.split()[0]: ln for ln in lines[1:]}
    assert "Default photo restorer" not in r.stdout
    assert rows[DEFAULT_MODEL].rstrip().endswith("default (photos)")
    assert "default comrec" in rows[DEFAULT_COMREC]
    assert "superseded by regen-fast-tuned" in rows["regen-fast"]
    assert "encoder half of comrec-lowq-rec" in rows["comrec-lowq-rec-com"]
    assert "user model: mine" in rows["a-rather-long-user-model-id"]
    shipped = {m.id for m in list_models() if m.builtin and m.mode != "comcnn"}
    assert shipped <= set(ROLES), shipped - set(ROLES)  # a new model needs its role
    d = {m["id"]: m for m in json.loads(cli("models", "list", "--json").stdout)}
    assert d[DEFAULT_MODEL]["default"] and not d["regen-coarse2"]["default"]
    assert d["regen-coarse2"]["role"].startswith("superseded by regen-coarse3")


def _fake_venv(tmp_path: Path, has_cuda_torch: bool = False) -> tuple[Path, Path]:
    """A venv whose python only logs its arguments (and answers whether torch has CUDA)."""
    venv, log = tmp_path / "venv", tmp_path / "pip.log"
    (venv / "bin").mkdir(parents=True)
    py = venv / "bin" / "python"
    py.write_text(f'#!/usr/bin/env bash\nif [ "$1" = -c ]; then exit {0 if has_cuda_torch else 1}; fi\n'
                  f'echo "$*" >> {log}\n')
    py.chmod(0o755)
    return venv, log


def test_setup_installs_cpu_only_torch_when_asked(tmp_path):
    """Without a GPU the default route pulled PyTorch's CUDA build (a 6 GB .venv)."""
    setup = ROOT / "bin" / "setup"
    venv, log = _fake_venv(tmp_path)
    env = {**os.environ, "REGEN_CODEC_VENV": str(venv), "REGEN_CODEC_TORCH": "cpu"}
    r = subprocess.run([str(setup)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    calls = log.read_text().splitlines()
    assert "install" in calls[0] and "torch --index-url https://download.pytorch.org/whl/cpu" in calls[0]
    assert "-e" in calls[1].split() and len(calls) == 2  # then regen-codec itself
    r = subprocess.run([str(setup)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and len(log.read_text().splitlines()) == 2  # done once
    del env["REGEN_CODEC_TORCH"]
    venv2, log2 = _fake_venv(tmp_path / "2")
    r = subprocess.run([str(setup)], env={**env, "REGEN_CODEC_VENV": str(venv2)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "index-url" not in log2.read_text()  # the default route
    r = subprocess.run([str(setup)], env={**env, "REGEN_CODEC_TORCH": "gpu"}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "must be cpu" in r.stderr
    venv3, log3 = _fake_venv(tmp_path / "3", has_cuda_torch=True)
    r = subprocess.run([str(setup)], env={**env, "REGEN_CODEC_VENV": str(venv3),
                                          "REGEN_CODEC_TORCH": "cpu"},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "CUDA build" in r.stderr and not log3.exists()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


@pytest.mark.slow
def test_grayscale_stays_one_component(photo, tmp_path):
    """Grayscale inputs became 3-component JPEGs: the network restores a one-component file as
    well, and the file is smaller."""
    import warnings

    gray = np.asarray(Image.fromarray(photo).convert("L"))
    path = tmp_path / "g.png"
    Image.fromarray(gray).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing converted, nothing to warn about
        data = codec.encode(path, quality=30, mode="regen", effort=1)
    import io

    assert Image.open(io.BytesIO(data)).mode == "L"
    i = codec.info(data)
    assert i.subsampling == "gray" and i.quality == 30 and i.metadata["strength"] is not None
    out = codec.decode(data, device="cpu")
    assert out.mode == "L" and out.size == (gray.shape[1], gray.shape[0])
    restored, plain = np.asarray(out), codec.decode_plain(data)[..., 0]
    assert _psnr(gray, restored) > _psnr(gray, plain) + 0.5  # the network still helps
    colour = codec.encode(np.stack([gray] * 3, -1), quality=30, mode="regen", effort=1)  # RGB array
    assert len(data) < len(colour)
    with pytest.warns(codec.CodecWarning, match="grayscale image stored as RGB: comrec"):
        codec.encode(path, quality=10, mode="comrec", effort=0)


def test_is_regen_file_reads_the_header_whatever_the_name(photo, tmp_path):
    from codec.batch.jobs import is_regen_file
    from codec.format.pack import pack

    data = codec.encode(photo, effort=0, fit=False, mode="regen")
    files = {"a.jpg": data, "packed.jxl": pack(data), "head-only.bin": data[:700],
             "plain.jpg": None, "p.png": None, "empty.jpg": b"", "text.jpg": b"hello"}
    Image.fromarray(photo).save(tmp_path / "plain.jpg")
    Image.fromarray(photo).save(tmp_path / "p.png")
    for name, content in files.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
    found = {n for n in files if is_regen_file(tmp_path / n)}
    assert found == {"a.jpg", "packed.jxl", "head-only.bin"}
    assert not is_regen_file(tmp_path / "missing.jpg")
