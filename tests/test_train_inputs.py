"""Damaged training inputs: named in one line, never numpy's or Pillow's bare message."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from codec.regen import data as D
from codec.regen.croppack import read_pack


def _png(path, seed):
    rgb = np.random.default_rng(seed).integers(0, 256, (80, 80, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)


def test_a_truncated_image_is_named_and_left_out_of_the_pool(tmp_path):
    for i in range(2):
        _png(tmp_path / f"{i}.png", i)
    whole = (tmp_path / "0.png").read_bytes()
    bad = tmp_path / "bad.png"
    bad.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="bad.png: cannot read this image"):
        D.load_clean(bad, np.random.default_rng(0))
    files = sorted(tmp_path.glob("*.png"))
    with pytest.warns(UserWarning, match="skipped: .*bad.png"):
        pool = D.build_pool(files, 64, seed=0)
    good = D.build_pool([p for p in files if p != bad], 64, seed=0)
    assert pool.shape == good.shape  # the two readable files, as without the damaged one


def test_train_pack_counts_only_the_files_it_read(tmp_path):
    """`train pack` said "from N files" counting a damaged file it had left out."""
    from codec.regen.croppack import write_pack

    src = tmp_path / "pool"
    src.mkdir()
    for i in range(4):
        _png(src / f"{i}.png", i)
    (src / "bad.png").write_bytes((src / "0.png").read_bytes()[:100])
    with pytest.warns(UserWarning, match="bad.png"):
        info = write_pack([src], tmp_path / "p.npz", 64, 4, 0, 0.0)
    assert info.train_files + info.val_files == 4  # bad.png is in neither count


@pytest.mark.parametrize("content", [b"hello" * 100, b""])
def test_a_file_that_is_not_a_pack_says_so(tmp_path, content):
    p = tmp_path / "x.npz"
    p.write_bytes(content)
    with pytest.raises(ValueError, match=r"x.npz is not a readable crop pack \(not an .npz archive") as e:
        read_pack(p)
    assert "pickle" not in str(e.value)
