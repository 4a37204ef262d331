"""Training batches JPEG-coded on the device (codec.regen.devicebatch) against the CPU batches
that Pillow codes (codec.regen.data.sample_batch): same draws, same crops, same files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from codec.decoder.consistency import project_batch
from codec.format.tables import REGEN_T1, REGEN_V1
from codec.regen.data import sample_batch
from codec.regen.devicebatch import DeviceBatches
from codec.regen.loader import step_rng


@pytest.fixture(scope="module")
def pool() -> np.ndarray:
    from skimage import data

    a, c = data.astronaut(), data.chelsea()
    return np.stack([a[:48, :48], a[200:248, 100:148], c[50:98, 60:108], c[200:248, 300:348]])


@pytest.mark.parametrize("patch,table_sets", [(48, ()), (32, (REGEN_V1,))])
def test_same_batches_as_the_cpu_route(pool, patch, table_sets):
    make = DeviceBatches(pool, 6, seed=3, rank=0, device="cpu", table_sets=table_sets,
                         patch=patch, consistency=True)
    for step in (0, 7):
        d = make(step)
        c = sample_batch(pool, 6, step_rng(3, 0, step), table_sets=table_sets, patch=patch,
                         coefficients=True)
        assert np.array_equal(d.clean.numpy(), c.clean)
        assert np.array_equal(d.coded.numpy(), c.coded)
        np.testing.assert_allclose(d.cond.numpy(), c.cond, atol=1e-6)
        out = torch.rand(6, 3, patch, patch)
        assert torch.allclose(d.coefs(out), project_batch(out, c.coefs), atol=1e-4)


def test_trellis_sets_are_refused(pool):
    with pytest.raises(ValueError, match="trellis"):
        DeviceBatches(pool, 2, 0, 0, "cpu", table_sets=(REGEN_T1,))
