"""Quality-targeted encoding: the search, its answer checked by decoding, and impossible targets."""

import numpy as np
import pytest

import codec
from codec.encoder.options import EncodeOptions
from codec.encoder.target import Target, encode_to_target
from codec.errors import CodecError
from codec.io.imageio import load_image
from codec.utils import metrics


def test_msssim_target_is_met_by_the_smallest_passing_probe(photo):
    res = encode_to_target(load_image(photo), Target(msssim=0.95), EncodeOptions(mode="regen", model="regen-fast"))
    assert res.quality is not None and 1 <= res.quality <= 100
    out = np.asarray(codec.decode(res.data, device="cpu"))
    assert metrics.ms_ssim(photo, out) >= 0.95
    passing = [p for p in res.probes if p.ok]
    assert res.best.bytes == min(p.bytes for p in passing)
    below = [p for p in res.probes if p.quality < res.quality]
    assert below, "the search must look below its answer"


def test_byte_budget(photo):
    res = encode_to_target(load_image(photo), Target(max_bytes=3000), EncodeOptions(mode="regen", model="regen-fast"))
    assert len(res.data) <= 3000
    assert all(p.bytes > 3000 for p in res.probes if p.quality > res.quality)


def test_byte_budget_counts_the_packed_file_when_packing(photo):
    """With --pack jxl the budget bounds the file written (the packed one), not the JPEG inside."""
    from codec.format.pack import packed_size

    src = load_image(photo)
    packed = encode_to_target(src, Target(max_bytes=3000),
                              EncodeOptions(mode="regen", model="regen-fast", effort=0, pack="jxl"))
    assert packed_size(packed.data) <= 3000
    assert all(p.bytes == packed_size(packed.data) for p in packed.probes if p.quality == packed.quality)
    assert all(p.bytes > 3000 for p in packed.probes if p.quality > packed.quality)


def test_impossible_target_is_a_clear_error(cli, png_file, tmp_path):
    r = cli("encode", png_file, "-o", tmp_path / "o.jpg", "--target-psnr", 90)
    assert r.exit_code == 2 and "cannot reach PSNR >= 90.00 dB" in r.stderr
    assert not (tmp_path / "o.jpg").exists()


def test_an_unreachable_target_reports_the_closest_try(cli, png_file, tmp_path):
    """Auto mode tries regen and comrec: the error names the closer one (it named comrec's
    last try, far below what regen reached), and for a byte budget the smallest file."""
    import re

    r = cli("encode", png_file, "-o", tmp_path / "o.jpg", "--mode", "auto", "--target-psnr", 90)
    m = re.search(r"quality (\d+) in (\w+) mode gives PSNR ([\d.]+) dB", r.stderr)
    assert r.exit_code == 2 and m and m.group(2) == "regen", r.stderr
    regen = cli("encode", png_file, "-o", tmp_path / "r.jpg", "--mode", "regen", "--target-psnr", 90)
    assert f"gives PSNR {m.group(3)} dB" in regen.stderr  # regen's own best
    r = cli("encode", png_file, "-o", tmp_path / "o.jpg", "--max-bytes", 10)
    m = re.search(r"quality (\d+) in \w+ mode gives (\d+) bytes", r.stderr)
    assert r.exit_code == 2 and m and int(m.group(1)) <= 5, r.stderr


def test_cli_reports_the_choice(cli, png_file, tmp_path):
    r = cli("encode", png_file, "-o", tmp_path / "o.jpg", "--target-psnr", 30)
    assert r.exit_code == 0, r.output
    assert "chose quality" in r.stderr and "PSNR" in r.stderr


def test_target_and_quality_exclude_each_other(cli, png_file, tmp_path):
    r = cli("encode", png_file, "-o", tmp_path / "o.jpg", "--target-psnr", 30, "-q", 50)
    assert r.exit_code == 2 and "exclude" in r.stderr
    with pytest.raises(CodecError):
        Target(psnr=30, msssim=0.9)
