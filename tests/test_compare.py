"""`estimate --compare`: the alternatives at the same target, their intervals, the winner,
notes for missing libraries, and the three-line summary; `bench`'s summary lines."""

from __future__ import annotations

import json
import sys

import pytest
from PIL import Image

TARGET_PSNR = 30.0


@pytest.fixture()
def tree(tmp_path, photo):
    """Two small PNGs and a JPEG: both kinds of source the winner is named for."""
    t = tmp_path / "tree"
    t.mkdir()
    Image.fromarray(photo[:64, :80]).save(t / "a.png")
    Image.fromarray(photo[50:114, 80:160]).save(t / "b.png")
    Image.fromarray(photo[20:84, 40:120]).save(t / "c.jpg", quality=92)
    return t


def test_compare_json_every_alternative_meets_the_same_target(cli, tree):
    from codec.batch.compare import alternatives

    r = cli("estimate", tree, "--sample", 3, "--target-psnr", TARGET_PSNR, "--compare", "--json")
    assert r.exit_code == 0, r.output
    e = json.loads(r.stdout)
    c = e["comparison"]
    names = [m["name"] for m in c["methods"]]
    alts, _ = alternatives()
    assert set(names) == {"regen-codec", "regen-codec+jxl", "jxl-transcode"} | {a.name for a in alts}
    assert "jpeg" in names  # Pillow's plain JPEG is always there
    # regen-codec's row is the estimate's own figure, interval included
    regen = next(m for m in c["methods"] if m["name"] == "regen-codec")
    assert regen["saving_pct"] == pytest.approx(e["saving_pct"])
    assert regen["saving_ci95"] == pytest.approx(e["saving_ci95"])
    for m in c["methods"]:
        lo, hi = m["saving_ci95"]
        assert lo <= m["saving_pct"] <= hi, m
        assert set(m["per_format"]) == {"png", "jpeg"}
    savings = [m["saving_pct"] for m in c["methods"]]
    assert savings == sorted(savings, reverse=True) and c["winner"] == names[0]
    assert c["lead_points"] == pytest.approx(savings[0] - savings[1])
    assert 0 <= c["lead_share"] <= 1
    for fmt, w in c["winner_per_format"].items():
        best = max(m["per_format"][fmt] for m in c["methods"])
        assert next(m for m in c["methods"] if m["name"] == w)["per_format"][fmt] == best
    for row in e["sample"]:
        assert "crops" not in row  # pictures stay out of the JSON
        for name, a in row["alternatives"].items():
            if name == "jxl-transcode":
                # lossless, and only for the JPEG source
                assert (a["bytes"] is not None) == row["path"].endswith(".jpg"), (row["path"], a)
                continue
            if a["bytes"] is not None:
                assert a["achieved"] >= TARGET_PSNR and 1 <= a["setting"] <= 100, (name, a)
                assert a["encode_seconds"] > 0 and a["search_seconds"] >= a["encode_seconds"]


def test_compare_summary_comes_first_in_three_lines(cli, tree):
    r = cli("estimate", tree, "--sample", 1, "--target-psnr", TARGET_PSNR, "--compare")
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[:4]
    assert first[0].startswith("compared: ") and first[1].startswith("winner: ")
    assert first[2].startswith("by how much: ") and first[3] == ""
    assert "winner per source format" in r.stdout and "JPEG viewer" in r.stdout


def test_missing_libraries_and_failing_codecs_are_notes_not_crashes(cli, tree, monkeypatch):
    import codec.batch.compare as compare

    monkeypatch.setitem(sys.modules, "pyjpegli", None)  # import fails: not installed
    monkeypatch.setitem(sys.modules, "pillow_jxl", None)
    alts, notes = compare.alternatives()
    assert {"jpegli", "jxl"}.isdisjoint(a.name for a in alts)
    assert any(n.startswith("jpegli: skipped") for n in notes)
    assert any(n.startswith("jxl: skipped") for n in notes)

    real = compare.alternatives

    def with_a_broken_codec():
        out, n = real()

        def boom(rgb, q):
            raise RuntimeError("encoder exploded")

        return out + [compare.Alternative("broken", "always fails", boom, compare._pil_decode,
                                          False)], n

    monkeypatch.setattr(compare, "alternatives", with_a_broken_codec)
    r = cli("estimate", tree, "--sample", 2, "--target-psnr", TARGET_PSNR, "--compare", "--json")
    assert r.exit_code == 0, r.output
    c = json.loads(r.stdout)["comparison"]
    broken = next(m for m in c["methods"] if m["name"] == "broken")
    assert broken["saving_pct"] == 0 and broken["files_met"] == 0  # files kept as they are
    assert any("broken: failed on 2" in n and "encoder exploded" in n for n in c["notes"])
    assert any(n.startswith("jpegli: skipped") for n in c["notes"])


def test_html_is_refused_over_an_existing_file_before_any_work(cli, tree, tmp_path, monkeypatch):
    import codec.batch.estimate

    page = tmp_path / "report.html"
    page.write_text("keep me")

    def never(*a, **k):
        raise AssertionError("converted before refusing the output")

    monkeypatch.setattr(codec.batch.estimate, "estimate_file", never)
    r = cli("estimate", tree, "--html", page)
    assert r.exit_code == 2 and "already exists" in r.stderr
    assert page.read_text() == "keep me"


def test_html_with_force_replaces_it(cli, tree, tmp_path):
    page = tmp_path / "report.html"
    page.write_text("old")
    r = cli("estimate", tree, "--sample", 1, "--target-psnr", TARGET_PSNR, "--html", page, "--force")
    assert r.exit_code == 0, r.output
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in html
    assert "data:image/svg+xml;base64," in html and "data:image/png;base64," in html
    assert not list(tmp_path.glob(".report.html.*"))  # no temporary file left


def test_bench_headline():
    from codec.bench.report import headline

    methods = dict.fromkeys(["jpeg", "avif", "ours", "odd"])
    summary = {"bd_rate": {"avif": {"msssim_db": -30.0, "psnr": -35.0},
                           "ours": {"msssim_db": -42.5, "psnr": -20.0},
                           "odd": {"msssim_db": None, "psnr": None}}}
    lines = headline(summary, methods, 5, (10, 50, 30))
    assert len(lines) == 3
    assert lines[0].startswith("compared: 3 method(s)") and "qualities 10-50" in lines[0]
    assert lines[1].startswith("winner: ours, BD-rate -42.5%") and "-20.0%" in lines[1]
    assert lines[2] == "by how much: 12.5 points of BD-rate ahead of avif (-30.0%)"
    none = headline({"bd_rate": {"odd": {"msssim_db": None, "psnr": None}}}, methods, 1, (5,))
    assert none[1].startswith("winner: none")


def test_crops_show_the_most_detailed_square():
    import numpy as np

    from codec.batch.compare import CROP, crop_box

    rng = np.random.default_rng(0)
    img = np.full((300, 500, 3), 90, np.uint8)
    img[100:260, 300:460] = rng.integers(0, 255, (160, 160, 3))  # the only detail
    x0, y0, x1, y1 = crop_box(img)
    assert (x1 - x0, y1 - y0) == (CROP, CROP)
    assert x0 <= 300 and 460 <= x1 and y0 <= 100 and 260 <= y1
    assert crop_box(img[:40, :50]) == (0, 0, 40, 40)  # smaller than a crop: all of it


def test_partial_comparison_from_the_files_done(cli, tmp_path, photo, monkeypatch):
    """Ctrl-C during --compare: PARTIAL first, then the three lines, from the files done; the
    savings are the sample's arithmetic (stand-in conversions of known sizes)."""
    from pathlib import Path

    import codec.batch.estimate as E
    from codec.batch.estimate import FileEstimate

    for k in range(4):
        Image.fromarray(photo[k:k + 40, :50]).save(tmp_path / f"{k}.png")

    def fake(path, **kw):
        if Path(path).name == "3.png":
            raise KeyboardInterrupt
        n = Path(path).stat().st_size
        assert kw["compare"] is True
        alts = {"jpeg": {"bytes": n // 4, "setting": 50, "achieved": 31.0, "search_seconds": 0.2,
                         "encode_seconds": 0.01, "note": "", "error": ""},
                "webp": {"bytes": None, "setting": None, "achieved": None, "search_seconds": 0.1,
                         "encode_seconds": 0.0, "note": "cannot meet the target", "error": ""}}
        return FileEstimate(path=str(path), format="png", megapixels=0.002, current_bytes=n,
                            projected_bytes=n // 2, packed_bytes=n // 3, quality=30, achieved=31.0,
                            seconds=0.1, alternatives=alts)

    monkeypatch.setattr(E, "estimate_file", fake)
    r = cli("estimate", tmp_path, "--sample", 4, "--target-psnr", 30, "--compare")
    assert r.exit_code == 130, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("PARTIAL estimate") and lines[1].startswith("compared: ")
    assert "3 sampled files" in lines[1]
    r = cli("estimate", tmp_path, "--sample", 4, "--target-psnr", 30, "--compare", "--json")
    c = json.loads(r.stdout)["comparison"]
    got = {m["name"]: m for m in c["methods"]}
    sizes = [(tmp_path / f"{k}.png").stat().st_size for k in range(3)]
    assert got["jpeg"]["saving_pct"] == pytest.approx(100 * (1 - sum(n // 4 for n in sizes) / sum(sizes)))
    assert got["webp"]["saving_pct"] == 0 and got["webp"]["files_met"] == 0  # kept as they are
    assert got["regen-codec+jxl"]["saving_pct"] == pytest.approx(
        100 * (1 - sum(n // 3 for n in sizes) / sum(sizes)))
    assert c["winner"] == "jpeg" and c["runner_up"] == "regen-codec+jxl"
    assert c["best_jpeg_viewer"] == "jpeg" and c["winner_per_format"] == {"png": "jpeg"}
    # encode time per megapixel: the files converted, per their megapixels
    assert got["jpeg"]["encode_seconds_per_megapixel"] == pytest.approx(0.01 / 0.002)
