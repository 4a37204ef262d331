"""The benchmark on two tiny images: every output file, resumable cache, sane numbers."""

import json
import os

import numpy as np
from PIL import Image


def test_bench_outputs_and_resume(cli, tmp_path):
    from skimage import data

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    Image.fromarray(data.astronaut()[:96, :128]).save(imgs / "a.png")
    Image.fromarray(data.chelsea()[:96, :128]).save(imgs / "b.png")
    out = tmp_path / "res"
    args = ["bench", imgs, "--out", out, "--methods", "jpeg-opt,webp,regen-fast",
            "--qualities", "20,50,80"]
    r = cli(*args)
    assert r.exit_code == 0, r.output
    for f in ("jpeg.json", "jpeg-opt.json", "webp.json", "regen-fast.json", "results.csv",
              "report.md", "summary.json", "rd_psnr.png", "rd_msssim.png"):
        assert (out / f).is_file(), f
    res = json.loads((out / "jpeg.json").read_text())["results"]
    assert len(res["bpp"]) == 3 and res["bpp"] == sorted(res["bpp"])
    assert res["psnr-rgb"] == sorted(res["psnr-rgb"])
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 * 2 * 3
    # Huffman optimization + progressive: same pixels as plain JPEG, fewer bytes
    jo = json.loads((out / "jpeg-opt.json").read_text())["results"]
    assert np.allclose(jo["psnr-rgb"], res["psnr-rgb"]) and all(
        a < b for a, b in zip(jo["bpp"], res["bpp"]))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bd_rate"]["jpeg-opt"]["psnr"] < 0
    assert set(summary["regressions"]["regen-fast"]) == {"20", "50", "80"}
    report = (out / "report.md").read_text()
    assert "BD-rate" in report and "regen-fast" in report and "decode MP/s" in report
    # a second run measures nothing new: every row comes from the cache
    before = {p.name: p.stat().st_mtime_ns for p in (out / "cache").iterdir()}
    assert cli(*args).exit_code == 0
    assert before == {p.name: p.stat().st_mtime_ns for p in (out / "cache").iterdir()}


def test_bench_unknown_method(cli, tmp_path):
    r = cli("bench", tmp_path, "--out", tmp_path / "o", "--methods", "nope")
    assert r.exit_code == 2 and "unknown method" in r.stderr


def test_lowrate_report_counts_where_auto_kept_comrec(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "lowrate_report.py"
    spec = importlib.util.spec_from_file_location("lowrate_report", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    head = "method,image,quality,bytes,bpp,psnr\n"
    regen = mod.AUTO_REGEN  # the default model on the default tables
    rows = [f"{regen},a.png,5,900,0.30,25.0",
            f"{regen},b.png,5,400,0.12,24.0",
            f"{regen},a.png,9,990,0.33,26.0",
            "auto,a.png,5,900,0.30,25.0",  # the regen file kept
            "auto,b.png,5,380,0.11,24.5",  # comrec kept
            "auto,a.png,9,990,0.33,26.4"]  # same size, other file: comrec kept
    (tmp_path / "results.csv").write_text(head + "\n".join(rows) + "\n")
    picks = mod.auto_picks(tmp_path / "results.csv")
    assert picks["comrec_of_images_per_quality"] == {5: [1, 2], 9: [1, 1]}
    assert picks["max_regen_bpp_where_comrec_kept"] == 0.33
    (tmp_path / "results.csv").write_text(head + rows[0] + "\n")
    assert mod.auto_picks(tmp_path / "results.csv") is None
    assert mod.auto_picks(tmp_path / "missing.csv") is None


def test_bench_cache_is_keyed_by_image_content(cli, tmp_path):
    """Another folder with the same file names (other crops) must not reuse the cached rows."""
    import csv

    from skimage import data

    out = tmp_path / "res"
    for sub, img in (("one", data.astronaut()[:64, :64]), ("two", data.chelsea()[:96, :96])):
        (tmp_path / sub).mkdir()
        Image.fromarray(img).save(tmp_path / sub / "a.png")
        r = cli("bench", tmp_path / sub, "--out", out, "--methods", "jpeg", "--qualities", "50")
        assert r.exit_code == 0, r.output
    fresh = tmp_path / "fresh"
    assert cli("bench", tmp_path / "two", "--out", fresh, "--methods", "jpeg",
               "--qualities", "50").exit_code == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    want = list(csv.DictReader(open(fresh / "results.csv")))
    assert len(rows) == 1 and rows[0]["bytes"] == want[0]["bytes"]
    assert rows[0]["psnr"] == want[0]["psnr"]


def test_bench_loads_images_by_the_codec_rules(cli, tmp_path):
    """A 16-bit PNG is reduced to 8 bits with a warning (it was clipped to white and scored
    PSNR inf); a JPEG file named .png is refused: its artefacts would be scored as ours."""
    import csv

    from skimage import data

    gray = data.camera()[:64, :64].astype(np.uint16) * 257
    (tmp_path / "i16").mkdir()
    Image.fromarray(gray).save(tmp_path / "i16" / "g.png")
    r = cli("bench", tmp_path / "i16", "--out", tmp_path / "o16", "--methods", "jpeg",
            "--qualities", "50")
    assert r.exit_code == 0, r.output
    assert "g.png" in r.stderr and "16-bit" in r.stderr
    row = next(csv.DictReader(open(tmp_path / "o16" / "results.csv")))
    assert 20 < float(row["psnr"]) < 60
    (tmp_path / "fake").mkdir()
    Image.fromarray(data.astronaut()[:64, :64]).save(tmp_path / "fake" / "a.png", "JPEG")
    r = cli("bench", tmp_path / "fake", "--out", tmp_path / "of", "--methods", "jpeg",
            "--qualities", "50")
    assert r.exit_code == 2 and "a.png" in r.stderr and "JPEG" in r.stderr


def test_bench_duplicate_method_names_measured_once(cli, tmp_path):
    """--methods jpeg,webp,webp wrote every jpeg and webp row twice into results.csv."""
    from skimage import data

    (tmp_path / "i").mkdir()
    Image.fromarray(data.astronaut()[:64, :64]).save(tmp_path / "i" / "a.png")
    r = cli("bench", tmp_path / "i", "--out", tmp_path / "o", "--methods", "jpeg,webp,webp",
            "--qualities", "10,50")
    assert r.exit_code == 0, r.output
    assert len((tmp_path / "o" / "results.csv").read_text().splitlines()) == 1 + 2 * 2


def test_bench_malformed_anchors_refused_before_measuring(cli, tmp_path):
    """A JSON file in --anchors that is not CompressAI's format (or not JSON) ended the run
    with a traceback, after every method had been measured."""
    (tmp_path / "i").mkdir()
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(tmp_path / "i" / "a.png")
    for text in ('{"bpp": [1, 2]}', "[1, 2]", "{not json"):
        anchors = tmp_path / "anchors"
        anchors.mkdir(exist_ok=True)
        (anchors / "x.json").write_text(text)
        r = cli("bench", tmp_path / "i", "--out", tmp_path / "o", "--methods", "jpeg",
                "--qualities", "50", "--anchors", anchors)
        assert r.exit_code == 2 and "x.json" in r.stderr, (text, r.output)
        assert not (tmp_path / "o" / "cache").exists()


def test_bench_corrupt_cache_lines_are_measured_again(cli, tmp_path):
    """A cache line that is JSON but not a whole row ('7', a dict without the measures) ended
    the run with TypeError/KeyError; a line cut short without its newline swallowed the next
    row appended to it. Each such row is now measured again."""
    import csv

    from skimage import data

    from codec.bench.measure import available_methods

    (tmp_path / "i").mkdir()
    Image.fromarray(data.astronaut()[:64, :64]).save(tmp_path / "i" / "a.png")
    args = ["bench", tmp_path / "i", "--out", tmp_path / "o", "--methods", "jpeg",
            "--qualities", "10,50"]
    assert cli(*args).exit_code == 0
    cache = tmp_path / "o" / "cache" / f"{available_methods()['jpeg'].cache_key}.jsonl"
    good = cache.read_text().splitlines()
    for bad in ("7", '{"image": "a.png", "quality": 50}', good[1][:40]):
        cache.write_text(good[0] + "\n" + bad + ("" if bad == good[1][:40] else "\n"))
        r = cli(*args)
        assert r.exit_code == 0, (bad, r.output)
        assert len(list(csv.DictReader(open(tmp_path / "o" / "results.csv")))) == 2
        assert json.loads(cache.read_text().splitlines()[-1])["quality"] == 50  # own line
        before = cache.read_text()
        assert cli(*args).exit_code == 0 and cache.read_text() == before  # nothing new


def test_bench_report_names_the_command_that_made_it(cli, tmp_path):
    """report.md's 'Reproduce' line left out --methods and --qualities (and --anchors), so it
    reran every method at 19 qualities instead of the run it reported."""
    from skimage import data

    (tmp_path / "i").mkdir()
    Image.fromarray(data.astronaut()[:64, :64]).save(tmp_path / "i" / "a.png")
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    r = cli("bench", tmp_path / "i", "--out", tmp_path / "o", "--methods", "webp",
            "--qualities", "50,10", "--anchors", anchors)
    assert r.exit_code == 0, r.output
    report = (tmp_path / "o" / "report.md").read_text()
    assert (f"`regen-codec bench {tmp_path / 'i'} --out {tmp_path / 'o'} --methods jpeg,webp "
            f"--qualities 10,50 --anchors {anchors}`") in report


def test_report_says_why_a_bd_rate_is_missing(tmp_path):
    """A method whose rates do not overlap JPEG's got 'n/a' in report.md with no reason (and an
    anonymous 'Curves do not overlap' warning on stderr)."""
    import warnings
    from types import SimpleNamespace

    from codec.bench.report import write_outputs

    def row(method, q, bpp, psnr):
        return {"method": method, "image": "a.png", "quality": q, "bytes": int(bpp * 128),
                "bpp": bpp, "psnr": psnr, "msssim": 1 - 10 ** (-psnr / 20), "msssim_db": 0.0,
                "ssim": 0.9, "encode_s": 0.01, "decode_s": 0.01, "decode_mpx_s": 0.1,
                "decode_peak_mb": 1.0}

    rows = [row("jpeg", 10, 0.5, 26.0), row("jpeg", 50, 1.0, 30.0), row("jpeg", 90, 2.0, 36.0),
            row("far", 10, 4.0, 40.0), row("far", 50, 5.0, 42.0), row("far", 90, 6.0, 44.0)]
    methods = {n: SimpleNamespace(description=n, restores_jpeg=False) for n in ("jpeg", "far")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = write_outputs(rows, methods, (10, 50, 90), tmp_path, tmp_path, None)
    assert summary["bd_rate"]["far"] == {"msssim_db": None, "psnr": None}
    report = (tmp_path / "report.md").read_text()
    assert "| far | n/a | n/a |" in report and "n/a: " in report and "overlap" in report


def test_report_says_which_run_timed_each_method(cli, tmp_path):
    """Rows taken from the cache keep the timings of the run that measured them: report.md must
    not call them one run, nor give a speed ratio across runs."""
    from skimage import data

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    Image.fromarray(data.astronaut()[:64, :64]).save(imgs / "a.png")
    out = tmp_path / "res"
    args = ["bench", imgs, "--out", out, "--qualities", "30,70"]
    assert cli(*args, "--methods", "jpeg,webp").exit_code == 0
    report = (out / "report.md").read_text()
    assert "measured in one run" in report and "| this run |" in report
    for f in (out / "cache").glob("*.jsonl"):  # as an earlier run on another machine left them
        rows = [json.loads(line) for line in f.read_text().splitlines()]
        f.write_text("".join(json.dumps({**r, "run": "2026-01-01 00:00 on elsewhere (cpu)"}) + "\n"
                             for r in rows))
    next((out / "cache").glob("jpeg-pil*.jsonl")).unlink()  # jpeg is measured again, webp not
    assert cli(*args, "--methods", "jpeg,webp").exit_code == 0
    report = (out / "report.md").read_text()
    assert "1 of 2 methods measured in this run" in report and "measured in one run" not in report
    webp = next(line for line in report.splitlines() if line.startswith("| webp |") and "MP/s" not in line
                and "elsewhere" in line)
    assert "n/a (other run)" in webp
    csv_rows = (out / "results.csv").read_text().splitlines()
    assert csv_rows[0].endswith(",run") and any("elsewhere" in r for r in csv_rows[1:])
    for f in (out / "cache").glob("*.jsonl"):  # rows cached before rows named their run
        f.write_text("".join(json.dumps({k: v for k, v in json.loads(line).items() if k != "run"})
                             + "\n" for line in f.read_text().splitlines()))
    assert cli(*args, "--methods", "jpeg,webp").exit_code == 0
    report = (out / "report.md").read_text()
    webp = next(line for line in report.splitlines() if line.startswith("| webp |") and
                "an earlier run" in line)
    assert "n/a (other run)" in webp  # two unnamed runs are not known to be one


def test_cache_key_names_the_pillow_version():
    """Every method codes or decodes through Pillow: rows cached under another Pillow (another
    libjpeg, libwebp) are measured again, not passed off under the new description."""
    import PIL

    from codec.bench.measure import available_methods

    for m in available_methods().values():
        assert m.cache_key.endswith(f"-pil{PIL.__version__}"), m.cache_key


def test_bench_jxl_takes_every_setting_a_search_may_ask():
    """libjxl refuses lossy quality 100; the equal-bytes search of `bench --html` can ask for it."""
    import numpy as np
    import pytest

    from codec.bench.measure import available_methods

    methods = available_methods()
    if "jxl" not in methods:
        pytest.skip("pillow-jxl-plugin is not installed")
    flat = np.full((64, 64, 3), 128, np.uint8)
    m = methods["jxl"]
    assert m.decode(m.encode(flat, 100)).shape == flat.shape


def test_force_without_html_says_it_does_nothing(cli, tmp_path):
    """`bench -f` and `estimate -f` without --html were accepted silently: -f only lets the
    page replace a file, so a user who meant something else by it is told."""
    from skimage import data

    (tmp_path / "i").mkdir()
    Image.fromarray(data.astronaut()[:64, :64]).save(tmp_path / "i" / "a.png")
    r = cli("bench", tmp_path / "i", "--out", tmp_path / "o", "--methods", "jpeg",
            "--qualities", "50", "-f")
    assert r.exit_code == 0, r.output
    assert "--force does nothing without --html" in r.stderr
    r = cli("bench", tmp_path / "i", "--out", tmp_path / "o", "--methods", "jpeg",
            "--qualities", "50")
    assert r.exit_code == 0 and "--force" not in r.stderr


def test_float32_twins_search_in_float32(monkeypatch, photo):
    """`<method>-float32`: the same searched files with the search in float32, keyed apart from
    the bfloat16 search a CPU with native bfloat16 runs (and equal to it on one without)."""
    from codec.bench.measure import available_methods
    from codec.encoder import maker, precision

    monkeypatch.delenv(precision.ENV, raising=False)
    monkeypatch.delenv("REGEN_CODEC_EFFORT", raising=False)  # the methods of the real default
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    methods = available_methods()
    for name in ("auto", "auto-e1", "auto+jxl-e3", "regen-coarse4@regen-v1", "regen-coarse4@regen-v1-e1"):
        plain, twin = methods[name], methods[f"{name}-float32"]
        assert plain.version.endswith("-bf16") and twin.version == plain.version.removesuffix("-bf16")
    assert "auto-e0-float32" not in methods  # nothing searched, nothing to twin
    seen, real = [], maker.refine
    monkeypatch.setattr(maker, "refine", lambda *a, **k: seen.append(a[4].precision) or real(*a, **k))
    monkeypatch.setattr(maker, "_search_memo", {})  # searches earlier tests made are not asked
    for name in ("regen-coarse4@regen-v1-e1", "regen-coarse4@regen-v1-e1-float32"):
        methods[name].encode(photo, 30)
    assert seen == ["bfloat16", "float32"]
    assert os.environ.get(precision.ENV) is None  # the twin restored the environment
