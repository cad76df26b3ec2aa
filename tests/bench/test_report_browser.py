"""The HTML report as a browser shows it: headless Chromium renders it with every plot.

`make test` installs Chromium (Debian package ``chromium``) when it runs as root; elsewhere,
without Chromium, these tests are skipped.
"""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sluice.bench._output import write_report

from .reports import load_data, strategies_data

pytestmark = pytest.mark.realtime

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PNG = b"\x89PNG\r\n\x1a\n"
PLOT_BLUE = (31, 119, 180)  # matplotlib's first colour, in every plot of the report


def _chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, timeout=90, check=True)


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    write_report(folder, strategies_data())
    return write_report(folder, load_data())


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_every_image_in_the_rendered_dom_is_an_embedded_png(report: Path, tmp_path: Path) -> None:
    from PIL import Image

    dom = _chromium(tmp_path, report, "--dump-dom").stdout.decode()
    parser = _Images()
    parser.feed(dom)
    assert len(parser.sources) == 5  # strategies, agents, latency, throughput, streaming
    for source in parser.sources:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        png = base64.b64decode(source[len(prefix) :], validate=True)
        assert png.startswith(PNG)
        with Image.open(io.BytesIO(png)) as image:
            image.verify()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_screenshot_shows_the_plots(report: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "shot.png"
    _chromium(tmp_path, report, f"--screenshot={shot}", "--window-size=1280,4000")
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
    low, high = zip(*rgb.getextrema(), strict=True)
    assert max(high) - min(low) > 100, "the screenshot is uniform"
    colours = rgb.getcolors(maxcolors=1 << 20)
    assert colours is not None
    blue = sum(count for count, colour in colours if _near(colour, PLOT_BLUE))
    assert blue > 2000, f"only {blue} pixels of plot colour: the plots did not render"


def _near(colour: tuple[int, int, int], target: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(colour, target, strict=True))
