"""Savings estimate on a small mixed tree: table, JSON, confidence interval, formats."""

import json

from PIL import Image


def test_estimate_json_and_table(cli, tmp_path, photo):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(photo[:, i * 10:i * 10 + 120]).save(tree / f"p{i}.png")
    Image.fromarray(photo).save(tree / "sub" / "a.jpg", quality=95)
    Image.fromarray(photo).save(tree / "sub" / "b.tif")
    r = cli("estimate", tree, "--sample", 4, "--match-jpeg-quality", 60, "--json")
    assert r.exit_code == 0, r.output
    e = json.loads(r.stdout)
    assert e["files_in_tree"] == 5 and len(e["sample"]) == 4
    lo, hi = e["saving_ci95"]
    assert lo <= e["saving_pct"] <= hi
    assert set(e["per_format"]) == {"png", "jpeg", "tiff"}
    assert e["tree_bytes"] == sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    for row in e["sample"]:
        assert row["projected_bytes"] is None or row["projected_bytes"] > 0
    # packing saves 10-20% on photos, but on files of a few kB, like these 120-pixel crops, the
    # JPEG XL wrapper can cost a few bytes more than it saves: the two stay close
    assert abs(e["saving_packed_pct"] - e["saving_pct"]) < 2
    r = cli("estimate", tree, "--sample", 2, "--target-psnr", 28)
    assert r.exit_code == 0 and "saving:" in r.stdout and "95% CI" in r.stdout


def test_estimate_reports_impossible_targets(cli, tmp_path, photo):
    Image.fromarray(photo).save(tmp_path / "a.png")
    r = cli("estimate", tmp_path, "--target-psnr", 80)
    assert r.exit_code == 0, r.output
    assert "cannot meet the target" in r.stdout and "a.png" in r.stdout


def test_estimate_needs_images(cli, tmp_path):
    r = cli("estimate", tmp_path)
    assert r.exit_code == 2 and "no images" in r.stderr


def test_estimate_json_stays_valid_when_files_are_skipped(cli, tmp_path, photo):
    """A sampled file that cannot be read is reported on stderr, not inside the JSON."""
    Image.fromarray(photo).save(tmp_path / "a.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    r = cli("estimate", tmp_path, "--target-psnr", 28, "--json")
    assert r.exit_code == 0, r.output
    e = json.loads(r.stdout)
    assert [row["path"] for row in e["sample"]] == [str(tmp_path / "a.png")]
    assert "skipped" in r.stderr and r.stderr.count("empty.jpg") == 1  # named once


def test_tree_size_counts_pictures_above_pillows_bomb_limit(tmp_path):
    """A 200-megapixel PNG (header only matters) counted as 0 megapixels in the tree total."""
    import struct
    import zlib

    from codec.batch.estimate import _megapixels

    w, h = 20000, 10000
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    p = tmp_path / "big.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    assert _megapixels(p) == 200.0


def test_estimate_reports_effort_time_per_megapixel_and_cpu_hours(cli, tmp_path, photo,
                                                                  monkeypatch):
    """The time per megapixel at the effort used, and the tree's projected CPU-hours (the
    conversion itself replaced by a stand-in that burns CPU time and meets no target)."""
    import time
    from types import SimpleNamespace

    import codec.batch.estimate

    def convert(*args, **kwargs):
        t = time.process_time()
        while time.process_time() - t < 0.05:
            pass
        return SimpleNamespace(best=None, data=None, quality=None, mode="regen")

    monkeypatch.setattr(codec.batch.estimate, "encode_to_target", convert)
    Image.fromarray(photo).save(tmp_path / "a.png")
    Image.fromarray(photo).save(tmp_path / "b.png")
    r = cli("estimate", tmp_path, "--sample", 1, "--target-psnr", 28, "--json")
    assert r.exit_code == 0, r.output
    e = json.loads(r.stdout)
    assert e["effort"] == 1  # tests/conftest.py's REGEN_CODEC_EFFORT
    row = e["sample"][0]
    assert row["cpu_seconds"] >= 0.05
    assert abs(e["cpu_seconds_per_megapixel"] - row["cpu_seconds"] / row["megapixels"]) < 1e-6
    assert abs(e["projected_cpu_hours"]
               - e["tree_megapixels"] * e["cpu_seconds_per_megapixel"] / 3600) < 1e-9
    assert e["tree_megapixels"] == 2 * row["megapixels"]
    r = cli("estimate", tmp_path, "--sample", 1, "--target-psnr", 28)
    assert r.exit_code == 0, r.output
    assert "at effort 1 (fast):" in r.stdout and "CPU-seconds per megapixel" in r.stdout
    assert "CPU-hours for the tree" in r.stdout
