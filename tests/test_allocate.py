"""The encoder's per-image choice of JPEG quality (codec.encoder.allocate)."""

import numpy as np
import pytest

import codec
from codec.encoder import allocate, maker
from codec.encoder.options import EncodeOptions
from codec.format.container import read_meta
from codec.io.imageio import load_image


def test_climb_finds_the_minimum_of_a_valley():
    for best in (40, 52, 30, 26, 46):  # reachable: the climb moves by 4, then by 2
        got, n = allocate.climb(40, lambda q: (q - best) ** 2)
        assert got == best and n <= 8
    assert abs(allocate.climb(40, lambda q: (q - 31) ** 2)[0] - 31) == 1


def test_climb_stays_in_its_window_and_in_1_100():
    assert allocate.climb(40, lambda q: q)[0] == 40 - allocate.WINDOW
    assert allocate.climb(40, lambda q: -q)[0] == 40 + allocate.WINDOW
    assert allocate.climb(95, lambda q: -q)[0] == 100
    assert allocate.climb(3, lambda q: q)[0] == 1
    calls = []
    allocate.climb(40, lambda q: calls.append(q) or 0.0)  # flat: keeps the request
    assert allocate.climb(40, lambda q: 0.0)[0] == 40 and all(abs(q - 40) <= 4 for q in calls)


def test_cost_prices_bytes_against_quality():
    t = allocate.tradeoff("regen-v1", 40)
    assert t.cost(1.0, 0.95, 30) > t.cost(0.9, 0.95, 30)  # fewer bytes, same picture: cheaper
    assert t.cost(1.0, 0.96, 30) < t.cost(1.0, 0.95, 30)
    assert t.cost(1.0, 0.95, 31) < t.cost(1.0, 0.95, 30)
    assert t.cost(1.0, 0.95, float("inf")) == t.cost(1.0, 0.95, 100)


def test_calibration_is_sane():
    cal = allocate._calibrations()["regen-v1"]
    assert cal["quality"] == list(range(1, 101))
    assert np.all(np.diff(cal["bpp"]) > -0.02)  # rate grows with quality (up to rounding noise)
    assert min(cal["msssim_weight"]) > 0 and min(cal["psnr_weight"]) > 0
    assert allocate.tradeoff("standard", 40) is None  # no calibration: fixed quality


def _cost(src, data, quality):
    ms, ps = allocate.measure(src, maker.restored_array(data))
    return allocate.tradeoff("regen-v1", quality).cost(len(data) * 8 / (src.shape[0] * src.shape[1]),
                                                        ms, ps)


@pytest.mark.parametrize("quality", [10, 40, 85])
def test_chosen_file_costs_no_more_than_the_requested_quality(photo, quality):
    chosen = codec.encode(photo, quality=quality, mode="regen", allocate=True)
    fixed = codec.encode(photo, quality=quality, mode="regen")
    assert _cost(photo, chosen, quality) <= _cost(photo, fixed, quality) + 1e-9
    src = load_image(photo)
    kept, data = maker.regen_file(src, EncodeOptions(quality=quality, tables="regen-v1", allocate=True))
    assert data == chosen and abs(kept - quality) <= allocate.WINDOW
    assert data == maker.file_maker(src, "regen", None, EncodeOptions(tables="regen-v1"))(kept)


def test_default_unfitted_and_uncalibrated_files_keep_the_quality(photo):
    src = load_image(photo)
    make = maker.file_maker(src, "regen", None, EncodeOptions(tables="regen-v1"))
    assert codec.encode(photo, quality=40, mode="regen") == make(40)
    assert codec.encode(photo, quality=40, mode="auto") == make(40)  # above auto's threshold
    unfitted = codec.encode(photo, quality=40, mode="regen", fit=False, allocate=True)
    assert unfitted == maker.file_maker(src, "regen", None, EncodeOptions(tables="regen-v1", fit=False))(40)
    assert read_meta(unfitted).strength is None
    std = codec.encode(photo, quality=40, mode="regen", tables="standard", allocate=True)
    assert std == maker.file_maker(src, "regen", None, EncodeOptions(tables="standard"))(40)  # no calibration


def test_measure_tiles_large_pictures():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2100, 2100, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    ms, ps = allocate.measure(a, b)
    assert 0.9 < ms <= 1 and ps == pytest.approx(codec.utils.metrics.psnr(a, b), abs=1e-3)


def test_cli_per_image_quality(cli, png_file, tmp_path):
    out_a, out_b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    r = cli("encode", png_file, "-o", out_a, "--mode", "regen", "-q", "40")
    assert r.exit_code == 0 and "quality 40," in r.stdout
    r = cli("encode", png_file, "-o", out_b, "--mode", "regen", "-q", "40", "--per-image-quality")
    kept, data = maker.regen_file(load_image(png_file), EncodeOptions(quality=40, tables="regen-v1", allocate=True))
    assert r.exit_code == 0 and f"quality {kept}," in r.stdout  # the quality it chose
    assert out_a.read_bytes() == codec.encode(png_file, quality=40, mode="regen")
    assert out_b.read_bytes() == data


def test_plain_jpeg_reference_row(photo):
    from codec.bench.measure import available_methods

    m, jpeg = available_methods()["jpeg-alloc"], available_methods()["jpeg"]
    data = m.encode(photo, 40)
    assert data[:2] == b"\xff\xd8" and m.decode(data).shape == photo.shape
    t = allocate.tradeoff(allocate.PLAIN_JPEG, 40)
    px = photo.shape[0] * photo.shape[1]

    def cost(d):
        return t.cost(len(d) * 8 / px, *allocate.measure(photo, jpeg.decode(d)))

    assert cost(data) <= cost(jpeg.encode(photo, 40)) + 1e-9
    assert allocate.rule_id(allocate.PLAIN_JPEG) != allocate.rule_id("regen-v1") != "none"
    assert allocate.rule_id("standard") == "none"


@pytest.mark.parametrize("extra,why", [(["--no-fit"], "strength fit"),
                                       (["--max-bytes", "5000"], "target"),
                                       (["--mode", "comrec"], "regen files")])
def test_cli_per_image_quality_refuses_what_it_cannot_do(cli, png_file, tmp_path, extra, why):
    out = tmp_path / "x.jpg"
    args = ["encode", png_file, "-o", out, "--per-image-quality"] + extra
    if "--max-bytes" not in extra:
        args += ["-q", "40"]
    r = cli(*args)
    assert r.exit_code == 2 and why in r.output and "Traceback" not in r.output
    assert not out.exists()


def test_measure_skips_edge_tiles_too_small_for_msssim():
    """Above 4 megapixels a 32-pixel edge tile once reached pytorch_msssim's assertion."""
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (1100, 4128, 3), dtype=np.uint8)  # tiles of 32 at the right edge
    ms, ps = allocate.measure(src, src)
    assert ms == pytest.approx(1.0) and ps == float("inf")
