"""Geometric self-ensemble (codec/regen/ensemble.py): same call as the model, block grid kept."""

import numpy as np
import pytest
import torch
from torch import nn

from codec.format.jpeg import SUBSAMPLINGS
from codec.regen.ensemble import SelfEnsemble
from codec.regen.model import RegenNet


def _cond(sub: str = "4:2:0") -> torch.Tensor:
    c = torch.zeros(1, 128 + len(SUBSAMPLINGS))
    c[0, :128] = torch.arange(128) / 128.0  # asymmetric tables, so a transpose shows
    c[0, 128 + SUBSAMPLINGS.index(sub)] = 1
    return c


class _Recorder(nn.Module):
    """Returns its input and keeps what it saw."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x, c):
        self.seen.append((x.clone(), c.clone()))
        return x


def test_one_member_is_the_model():
    torch.manual_seed(0)
    net = RegenNet(width1=8, width2=8, depth=1).eval()
    for p in net.parameters():
        p.data.normal_(0, 0.1)
    x, c = torch.rand(1, 3, 40, 56), _cond()
    with torch.inference_mode():
        assert torch.equal(SelfEnsemble(net, 1)(x, c), net(x, c))
        eight = SelfEnsemble(net, 8)(x, c)
    assert eight.shape == x.shape and not torch.allclose(eight, net(x, c), atol=1e-4)


def _grid_phase(profile: torch.Tensor, n: int) -> set:
    """For a copy's row (or column) profile of picture indices 1..n: how each picture index r
    lands at copy index i, as 'same' (i = r mod 16) or 'flipped' (i = -r-1 mod 16)."""
    kinds = set()
    for r in range(n):
        i = int(torch.nonzero(profile == r + 1).flatten().max())  # padding repeats an edge row
        kinds.add("same" if (i - r) % 16 == 0 else "flipped" if (i + r + 1) % 16 == 0 else "off")
    return kinds


@pytest.mark.parametrize("h,w", [(37, 45), (32, 48), (17, 16)])
def test_members_see_the_block_grid_where_the_model_did(h, w):
    """In every flipped or transposed copy the file's 16-pixel block grid stays on 16-pixel
    boundaries (possibly mirrored), so the network sees blocks as it saw them in training."""
    x = torch.zeros(1, 3, h, w)
    x[0, 0] = torch.arange(1, h + 1, dtype=torch.float32)[:, None].expand(h, w)  # row numbers
    x[0, 1] = torch.arange(1, w + 1, dtype=torch.float32)[None, :].expand(h, w)  # column numbers
    rec = _Recorder()
    out = SelfEnsemble(rec, 8)(x, _cond())
    assert torch.allclose(out, x)  # an exactly symmetric model is unchanged by the ensemble
    assert len(rec.seen) == 8
    for seen, c in rec.seen:
        transposed = not torch.equal(c, _cond())
        rows = seen[0, 0][0, :] if transposed else seen[0, 0][:, 0]  # picture rows in the copy
        cols = seen[0, 1][:, 0] if transposed else seen[0, 1][0, :]
        assert len(_grid_phase(rows, h)) == 1 and "off" not in _grid_phase(rows, h)
        assert len(_grid_phase(cols, w)) == 1 and "off" not in _grid_phase(cols, w)


def test_transposed_copies_get_transposed_tables_and_skip_422():
    rec = _Recorder()
    SelfEnsemble(rec, 8)(torch.rand(1, 3, 32, 32), _cond())
    conds = [c for _, c in rec.seen]
    t = _cond()[0, :64].reshape(8, 8)
    assert torch.equal(conds[4][0, :64].reshape(8, 8), t.T)
    assert torch.equal(conds[4][0, 128:], _cond()[0, 128:])
    rec = _Recorder()
    SelfEnsemble(rec, 8)(torch.rand(1, 3, 32, 32), _cond("4:2:2"))
    assert len(rec.seen) == 4  # 4:2:2 is not symmetric under a transpose: flips only


def test_bad_size():
    with pytest.raises(ValueError):
        SelfEnsemble(nn.Identity(), 3)


def test_decode_with_an_ensemble(odd_photo):
    import codec
    from codec.errors import CodecError

    for mode in ("regen", "comrec"):
        data = codec.encode(odd_photo, quality=20, mode=mode)
        one = np.asarray(codec.decode(data, device="cpu"))
        four = np.asarray(codec.decode(data, device="cpu", ensemble=4))
        assert four.shape == one.shape == odd_photo.shape
        assert not np.array_equal(four, one)
    with pytest.raises(CodecError, match="ensemble must be one of"):
        codec.decode(data, device="cpu", ensemble=3)


@pytest.mark.parametrize("ensemble", [2.0, True, "2"])
def test_decode_refuses_an_ensemble_that_is_not_an_integer(odd_photo, ensemble):
    """2.0 passed the choice check and failed in the flips ('slice indices must be integers');
    True ran one member as if 1 had been asked."""
    import codec
    from codec.errors import CodecError

    data = codec.encode(odd_photo, quality=20, mode="regen", fit=False)
    with pytest.raises(CodecError, match="ensemble must be one of 1, 2, 4, 8"):
        codec.decode(data, device="cpu", ensemble=ensemble)


def test_cli_decode_ensemble(cli, png_file, tmp_path):
    jpg, out = tmp_path / "a.jpg", tmp_path / "a.png"
    assert cli("encode", str(png_file), "-o", str(jpg)).exit_code == 0
    assert cli("decode", str(jpg), "-o", str(out), "--ensemble", "2").exit_code == 0
    assert out.exists()
    bad = cli("decode", str(jpg), "-o", str(tmp_path / "b.png"), "--ensemble", "3")
    assert bad.exit_code != 0 and "3" in bad.output
