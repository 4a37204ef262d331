"""The model registry: shipped models, user imports, hashes, and no unpickling ever."""

import pickle

import pytest
import torch

import codec
from codec.errors import CodecError
from codec.registry import DEFAULT_MODEL, count_macs_per_pixel, create_model, find_model, list_models, save_model


def _tiny(tmp_path, model_id="my-tiny", seed=0):
    torch.manual_seed(seed)
    net = create_model("regen-unet", width1=8, width2=8, depth=1)
    torch.nn.init.normal_(net.tail.weight, std=0.01)
    return save_model(net, model_id, tmp_path / "export", arch="regen-unet", summary="tiny test")


def test_default_model_ships_with_hash_named_file():
    m = find_model(DEFAULT_MODEL)
    assert m.builtin and m.path.name == f"{m.id}-{m.sha256[:8]}.safetensors"
    assert 0 < m.macs_per_pixel <= 30_000 and m.params > 0 and m.summary
    assert (m.path.parent / f"{m.id}.md").is_file(), "every shipped model has a model card"


def test_macs_are_counted_not_declared():
    small = create_model("regen-unet", width1=8, width2=8, depth=1)
    big = create_model("regen-unet")
    assert count_macs_per_pixel(big) > 10 * count_macs_per_pixel(small)
    # 3x3 conv, 12 -> 32 channels at half resolution alone is 9*12*32/4 MACs per pixel
    assert count_macs_per_pixel(big) > 9 * 12 * 32 / 4


def test_import_then_decode_with_user_model(tmp_path, user_models, photo, cli):
    path = _tiny(tmp_path)
    assert path.name.startswith("my-tiny-")
    r = cli("models", "import", path)
    assert r.exit_code == 0, r.output
    assert any(m.id == "my-tiny" and not m.builtin for m in list_models())
    data = codec.encode(photo, model="my-tiny")
    assert codec.decode(data).size == (photo.shape[1], photo.shape[0])
    listing = cli("models")
    assert "my-tiny" in listing.stdout and DEFAULT_MODEL in listing.stdout


def test_hash_mismatch_names_the_model(tmp_path, user_models, photo):
    first = _tiny(tmp_path, seed=0)
    from codec.registry import import_model

    import_model(first)
    data = codec.encode(photo, model="my-tiny")
    second = _tiny(tmp_path / "b", seed=1)
    import_model(second, force=True)
    with pytest.raises(CodecError, match="my-tiny.*hash mismatch"):
        codec.decode(data)


def test_replacing_a_user_model_needs_force(tmp_path, user_models):
    from codec.registry import import_model

    import_model(_tiny(tmp_path, seed=0))
    with pytest.raises(CodecError, match="--force"):
        import_model(_tiny(tmp_path / "b", seed=1))


def test_builtin_ids_cannot_be_shadowed(tmp_path, user_models):
    from codec.registry import import_model

    with pytest.raises(CodecError, match="built-in"):
        import_model(_tiny(tmp_path, model_id=DEFAULT_MODEL))


def test_pickles_are_never_loaded(tmp_path, user_models):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(Boom()))
    torch_file = tmp_path / "model.pt"
    torch.save({"x": torch.zeros(1)}, torch_file)
    from codec.registry import import_model

    for f in (evil, torch_file):
        with pytest.raises(CodecError, match="not a valid regen-codec model"):
            import_model(f)


def test_each_model_file_is_hashed_once_until_it_changes(tmp_path, user_models, monkeypatch):
    """Every load looks the registry up: the hashes and headers are remembered per unchanged
    file, and a file rewritten in place is hashed and read again (its hash check still sees
    the new bytes)."""
    import os

    import codec.registry as R

    hashed, parsed = [], []
    real, real_parse = R.file_sha256, R._parse_info
    monkeypatch.setattr(R, "file_sha256", lambda p: hashed.append(str(p)) or real(p))
    monkeypatch.setattr(R, "_parse_info", lambda p, b: parsed.append(str(p)) or real_parse(p, b))
    R.import_model(_tiny(tmp_path, seed=0))
    list_models()
    first, first_parsed = len(hashed), len(parsed)
    list_models()
    find_model("my-tiny")
    assert len(hashed) == first and len(parsed) == first_parsed  # nothing read again
    path = find_model("my-tiny").path
    before = find_model("my-tiny").sha256
    other = _tiny(tmp_path / "b", seed=1).read_bytes()
    path.write_bytes(other)  # same name, new bytes
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert find_model("my-tiny").sha256 != before
    assert hashed.count(str(path)) == 2 and parsed.count(str(path)) == 2


def test_import_of_a_folder_says_it_is_a_folder(tmp_path, user_models, cli):
    """`models import DIR` said 'no such file' about a folder that exists."""
    r = cli("models", "import", tmp_path)
    assert r.exit_code == 2 and "is a directory" in r.stderr and "no such file" not in r.stderr
    r = cli("models", "import", tmp_path / "nope.safetensors")
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_the_wheel_ships_the_defaults_and_names_the_rest(monkeypatch):
    """pyproject's package-data lists the default networks' files by name (the superseded ones
    stay out of the wheel); a file naming a superseded model that is not installed says where
    its weights are."""
    import re
    import tomllib
    from pathlib import Path

    from codec import registry

    root = Path(__file__).resolve().parents[1]
    shipped = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["codec"]
    for model_id in (registry.DEFAULT_MODEL, registry.DEFAULT_COMREC, registry.DEFAULT_COMREC + "-com"):
        path = find_model(model_id).path
        assert f"models/{path.name}" in shipped and path.exists()
    assert not any(re.search(r"models/.*\*.*\.safetensors", p) for p in shipped)
    others = [m for m in list_models() if m.builtin and f"models/{m.path.name}" not in shipped]
    assert others, "the superseded models stay in the repository"
    monkeypatch.setattr(registry, "list_models", lambda: [m for m in list_models() if m not in others])
    with pytest.raises(CodecError, match=f"not installed.*models import.*{others[0].id}-\\*\\.safetensors"):
        find_model(others[0].id)
