"""The HTML reports of `bench --html` and `estimate --html`, opened in a real headless browser.

The browser is Debian's chromium driven by selenium through Debian's chromedriver. Without
them these tests skip and say why, unless REGEN_CODEC_REQUIRE_BROWSER=1 (CI installs both),
in which case a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest
from PIL import Image

# a closed network: nothing may be fetched, no update or sync service started
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage", "--window-size=1200,900"]


def _browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (bin/setup test installs it)"
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "no chromium (apt-get install chromium chromium-driver)"
    if not shutil.which("chromedriver"):
        return "no chromedriver (apt-get install chromium-driver)"
    return None


@pytest.fixture()
def browser(tmp_path):
    """A headless chromium with a fresh profile, its console log kept; skips without one."""
    why = _browser_missing()
    if why:
        if os.environ.get("REGEN_CODEC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"REGEN_CODEC_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # the driver named explicitly: selenium's own driver manager would try the network
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _check_page(driver, page, shot):
    """Every picture decoded and shown, the flipper flips, nothing on the console; a screenshot."""
    from selenium.webdriver.common.by import By

    driver.get(page.as_uri())
    imgs = driver.find_elements(By.TAG_NAME, "img")
    plots = driver.find_elements(By.CSS_SELECTOR, "img.plot")
    crops = driver.find_elements(By.CSS_SELECTOR, "img.crop")
    assert len(plots) >= 2 and len(crops) >= 4
    for img in imgs:
        ok = driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0",
                                   img)
        assert ok, f"a picture did not render: {img.get_attribute('alt')}"
    flip = driver.find_elements(By.CSS_SELECTOR, ".flip")[0]
    views = flip.find_elements(By.CSS_SELECTOR, ".views figure")
    labels = flip.find_elements(By.TAG_NAME, "label")  # "side by side", then one per view
    assert len(views) == len(labels) - 1 >= 4 and labels[0].text == "side by side"
    assert all(v.is_displayed() for v in views)  # side by side at first
    labels[3].click()  # the third view alone
    shown = [v.is_displayed() for v in views]
    assert shown == [k == 2 for k in range(len(views))], shown
    assert views[2].find_element(By.TAG_NAME, "img").get_attribute("alt") == labels[3].text
    big = views[2].find_element(By.TAG_NAME, "img").size["width"]
    labels[0].click()
    assert all(v.is_displayed() for v in views)
    assert views[2].find_element(By.TAG_NAME, "img").size["width"] < big  # enlarged when alone
    driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 1000
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors  # a blocked request (the page's CSP forbids any) logs one too


def _bench_page(cli, tmp_path, page_name: str, methods: str, qualities: str):
    """`bench --html` of one 64x64 crop of scikit-image's astronaut: the result and the page."""
    from skimage import data

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    Image.fromarray(data.astronaut()[100:164, 180:244]).save(imgs / "a.png")
    page = tmp_path / page_name
    r = cli("bench", imgs, "--out", tmp_path / "res", "--methods", methods,
            "--qualities", qualities, "--html", page)
    return r, page


def test_bench_html_in_a_browser(cli, tmp_path, browser):
    r, page = _bench_page(cli, tmp_path, "bench.html", "avif,regen-fast", "20,60")
    assert r.exit_code == 0, r.output
    html = page.read_text()
    assert "BD-rate against plain JPEG" in html and "regen-fast restored" in html
    assert "http://" not in html and "https://" not in html  # nothing to fetch
    _check_page(browser, page, tmp_path / "bench.png")


def test_estimate_html_in_a_browser(cli, tmp_path, photo, browser):
    tree = tmp_path / "tree"
    tree.mkdir()
    Image.fromarray(photo[:64, :72]).save(tree / "a.png")
    Image.fromarray(photo[40:104, 60:132]).save(tree / "b.jpg", quality=90)
    page = tmp_path / "estimate.html"
    r = cli("estimate", tree, "--sample", 2, "--target-psnr", 30, "--html", page)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("compared: ")
    _check_page(browser, page, tmp_path / "estimate.png")


def test_the_page_check_catches_a_broken_picture_and_a_blocked_request(tmp_path, browser):
    """The checks above can fail: a picture that does not decode, and a request to the
    network (which the page's policy blocks, and the console reports)."""
    from codec.bench.report_html import CropSet, View, crops_html, page

    bad = "data:image/png;base64,iVBORw0KGgo="  # a PNG signature and nothing else
    views = [View(f"v{k}", bad) for k in range(4)]
    body = ['<img class="plot" alt="p" src="https://example.invalid/plot.png">'] * 2
    (tmp_path / "bad.html").write_text(page("bad", body + [crops_html([CropSet("c", views)])]))
    with pytest.raises(AssertionError, match="did not render"):
        _check_page(browser, tmp_path / "bad.html", tmp_path / "bad.png")
    import numpy as np

    from codec.batch.compare import png_data_uri

    good = png_data_uri(np.full((8, 8, 3), 128, np.uint8))
    views = [View(f"v{k}", good) for k in range(4)]
    body = [f'<img class="plot" alt="p" src="{good}">'] * 2
    body.append('<link rel="stylesheet" href="https://example.invalid/style.css">')
    (tmp_path / "net.html").write_text(page("net", body + [crops_html([CropSet("c", views)])]))
    with pytest.raises(AssertionError, match="SEVERE|ERROR"):
        _check_page(browser, tmp_path / "net.html", tmp_path / "net.png")


def test_bench_html_crops_from_the_default_pipeline_or_says_why_none(cli, tmp_path):
    """Without a browser: `auto` with a suffix is our method for the crops; with no regen-codec
    method in the run the page says there are no crops, and why."""
    r, page = _bench_page(cli, tmp_path, "a.html", "avif,auto-e0", "30,60")
    assert r.exit_code == 0, r.output
    imgs = tmp_path / "imgs"
    html = page.read_text()
    from codec.bench.measure import available_methods

    others = {"jpeg", "avif", "jxl"} & set(available_methods())
    assert html.count('class="crop"') == 2 * (3 + len(others))  # 2 qualities x source, ours x2
    assert "auto-e0 restored" in html and "auto-e0 plain view" in html
    r = cli("bench", imgs, "--out", tmp_path / "res", "--methods", "avif", "--qualities", "30,60",
            "--html", page)
    assert r.exit_code == 2 and "already exists" in r.stderr
    r = cli("bench", imgs, "--out", tmp_path / "res", "--methods", "avif", "--qualities", "30,60",
            "--html", page, "--force")
    assert r.exit_code == 0, r.output
    html = page.read_text()
    assert 'class="crop"' not in html and "No crops: no regen-codec method ran" in html
