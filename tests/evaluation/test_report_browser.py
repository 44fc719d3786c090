"""report.html opened in a real headless Chromium (Debian's chromium + chromium-driver): every section renders and
every embedded image decodes. A screenshot is kept for a person to look at."""
import os
import shutil
from pathlib import Path

import pytest

import gridlab
from gridlab.evaluation.report import SECTIONS

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_browser = pytest.mark.skipif(not (os.path.exists(CHROMEDRIVER) and os.path.exists(CHROMIUM)),
                                   reason="Debian's chromium and chromium-driver are not installed")


def open_browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chrome-profile'}", "--window-size=1200,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.mark.slow
@needs_browser
def test_report_renders_every_section_and_image(idx_dir, tmp_path):
    run = gridlab.train(data="mnist", data_dir=str(idx_dir), model="seed001_cnn", epochs=2, batch=8, verbose=False)
    report = (run.folder / "report.html").resolve()
    driver = open_browser(tmp_path)
    try:
        driver.get(report.as_uri())
        assert driver.title == f"gridlab report: {run.folder.name}"
        found = driver.execute_script("return Array.from(document.querySelectorAll('section')).map(s => s.id)")
        assert found == list(SECTIONS)
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(images) == 11   # every figure section: curves ... suspects, ood, model
        for alt, complete, width, height in images:
            assert complete and width > 100 and height > 50, f"image {alt!r} did not render"
        text = driver.find_element("id", "per-class").text
        assert "precision" in text and "recall" in text
        shot = Path(os.environ.get("GRIDLAB_SCREENSHOTS", run.folder)) / "report-screenshot.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()
