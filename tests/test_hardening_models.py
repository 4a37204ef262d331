"""Hostile model files and model folders: IDs that would name files outside the model folder or
put control characters on the terminal, configurations that would build absurd networks,
non-regular files in the folder. Each is refused (import) or skipped with a warning (scan)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from codec.errors import CodecError
from codec.registry import check_config, create_model, find_model, import_model, list_models, save_model

BAD_IDS = ["../../escaped-rel", "/tmp/regen-codec-abs-id", "esc\x1b[31mred", "two\nlines",
           "Upper", "", "-lead", "a" * 65, "sub/dir", "..", "nul\x00"]


def _state() -> dict:
    torch.manual_seed(0)
    net = create_model("regen-unet", width1=8, width2=8, depth=1)
    return {k: v.contiguous() for k, v in net.state_dict().items()}


def _craft(path: Path, state: dict | None = None, **meta) -> Path:
    """A safetensors file with the header metadata given (a tiny regen net's weights)."""
    fields = {"id": "crafted", "mode": "regen", "arch": "regen-unet",
              "config": json.dumps({"width1": 8, "width2": 8, "depth": 1}), "summary": "crafted"}
    fields.update(meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(_state() if state is None else state, str(path), metadata=fields)
    return path


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@contextmanager
def _time_limit(seconds: int):
    """Fail (instead of hanging the suite) when the block takes longer than `seconds`."""
    def fire(signum, frame):
        raise TimeoutError(f"took more than {seconds} s (hung)")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_import_refuses_ids_that_are_not_plain_names(tmp_path, user_models, bad_id, cli):
    src = _craft(tmp_path / "in" / "model.safetensors", id=bad_id)
    before = _tree(tmp_path)
    with pytest.raises(CodecError, match="invalid model ID"):
        import_model(src)
    r = cli("models", "import", src)
    assert r.exit_code == 2
    assert r.stderr.startswith("regen-codec: error: ") and r.stderr.count("\n") == 1
    assert not any(c < " " for c in r.stderr[:-1]), repr(r.stderr)
    assert _tree(tmp_path) == before  # nothing written, here or anywhere under the test folder
    assert not Path("/tmp/regen-codec-abs-id-00000000.safetensors").exists()
    assert not any(Path("/tmp").glob("regen-codec-abs-id*"))


@pytest.mark.parametrize("bad_id", ["../../escaped-rel", "esc\x1b[31mred", "two\nlines"])
def test_save_refuses_bad_ids(tmp_path, bad_id):
    net = create_model("regen-unet", width1=8, width2=8, depth=1)
    with pytest.raises(CodecError, match="invalid model ID"):
        save_model(net, bad_id, tmp_path / "out", arch="regen-unet")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_scan_skips_bad_ids_and_names_with_a_warning(tmp_path, user_models, cli):
    _craft(user_models / "fine-0123abcd.safetensors", id="fine",
           summary="ok\x1b[2J\nforged line")
    _craft(user_models / "esc-0123abcd.safetensors", id="esc\x1b[31m\nforged-model regen")
    _craft(user_models / "Bad Name.safetensors", id="badname")
    _craft(user_models / "x\x1bname-0123abcd.safetensors", id="ctrlname")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids = {m.id for m in list_models()}
    assert "fine" in ids and not {"badname", "ctrlname"} & ids
    assert not any("\x1b" in i or "\n" in i for i in ids)
    said = " ".join(str(w.message) for w in caught)
    for name in ("esc-0123abcd", "Bad Name", "x\\x1bname"):
        assert name in said, said
    assert not any(c < " " for c in said)
    import codec.registry as R

    R._SKIPPED.clear()  # warned once per process: the CLI run below is in this one
    r = cli("models")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert not any(c < " " for line in lines for c in line), r.stdout
    assert not any(line.startswith("forged") for line in lines)
    assert sum(line.startswith("fine ") for line in lines) == 1
    assert "skipping" in r.stderr and not any(c < " " for c in r.stderr.replace("\n", ""))


BAD_CONFIGS = [
    ({"config": json.dumps({"width1": 8, "width2": 8, "depth": 1, "colour": 3})}, "unknown"),
    ({"config": json.dumps([8, 8, 1])}, "mapping"),
    ({"config": json.dumps("width1=8")}, "mapping"),
    ({"config": json.dumps({"width1": 100000})}, "width1"),
    ({"config": json.dumps({"width1": 8.0, "width2": 8, "depth": 1})}, "width1"),
    ({"config": json.dumps({"width1": True, "width2": 8, "depth": 1})}, "width1"),
    ({"config": json.dumps({"width1": 8, "width2": 8, "depth": -1})}, "depth"),
    ({"config": json.dumps({"width1": 1024, "width2": 1024, "depth": 256})}, "parameters"),
    ({"config": "{not json"}, "not a valid"),
    ({"arch": "comcnn", "config": json.dumps({"width": 8})}, "do not fit"),
    ({"mode": "comrec"}, "do not fit"),
    ({"mode": "comcnn"}, "do not fit"),
    ({"mode": "jpegxl"}, "do not fit"),
    ({"arch": "transformer"}, "do not fit"),
]


@pytest.mark.parametrize("meta,says", BAD_CONFIGS)
def test_import_refuses_bad_configurations_before_building(tmp_path, user_models, meta, says,
                                                          cli, monkeypatch):
    src = _craft(tmp_path / "model.safetensors", **meta)
    import codec.registry as R

    built = []
    monkeypatch.setattr(R, "_load", lambda *a: built.append(a))  # nothing may be built
    with pytest.raises(CodecError, match=says):
        import_model(src)
    assert not built
    r = cli("models", "import", src)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.stderr
    assert not user_models.exists() or not any(user_models.iterdir())


@pytest.mark.parametrize("meta,says", BAD_CONFIGS[:4] + BAD_CONFIGS[9:10])
def test_load_skips_bad_configurations_in_the_folder(tmp_path, user_models, meta, says):
    _craft(user_models / "crafted-0123abcd.safetensors", **meta)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CodecError, match="'crafted' is refused: .*" + says):
            find_model("crafted")
    assert any("crafted-0123abcd" in str(w.message) for w in caught)


def test_check_config_accepts_every_shipped_model():
    for m in list_models():
        assert check_config(m.arch, m.config) == m.config


def test_create_model_checks_its_configuration():
    with pytest.raises(CodecError, match="width1"):
        create_model("regen-unet", width1=100000)
    with pytest.raises(CodecError, match="unknown"):
        create_model("regen-unet", widht1=8)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_in_the_model_folder_is_skipped_not_read(tmp_path, user_models):
    """Run as a real process with a time limit: reading the FIFO would block forever."""
    user_models.mkdir(parents=True)
    os.mkfifo(user_models / "stuck-0123abcd.safetensors")
    env = {**os.environ, "REGEN_CODEC_MODELS": str(user_models),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    try:
        r = subprocess.run([sys.executable, "-m", "codec", "models"], env=env, timeout=120,
                           capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        pytest.fail("`regen-codec models` hung on a FIFO in the model folder")
    assert r.returncode == 0 and "regen-coarse4" in r.stdout, r.stderr
    assert "stuck-0123abcd" in r.stderr and "not a regular file" in r.stderr
    with _time_limit(20):
        with pytest.raises(CodecError, match="not a regular file"):
            import_model(user_models / "stuck-0123abcd.safetensors")


def test_import_of_a_fifo_is_refused_without_reading(tmp_path, user_models, cli):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    with _time_limit(20):
        r = cli("models", "import", fifo)
    assert r.exit_code == 2 and "not a regular file" in r.stderr


def test_load_refuses_an_empty_hash(tmp_path, user_models):
    from codec.registry import load_model

    with pytest.raises(CodecError, match="hash mismatch"):
        load_model("regen-coarse4", sha256="")
    with pytest.raises(CodecError, match="hash mismatch"):
        load_model("regen-coarse4", sha256="zz" * 8)


@pytest.mark.parametrize("command", ["regen", "comrec"])
def test_train_checks_its_id_before_training(tmp_path, cli, command):
    r = cli("train", command, "--data", tmp_path, "--id", "../escape", "--workdir", tmp_path / "w")
    assert r.exit_code == 2 and "invalid model ID" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "w").exists()
