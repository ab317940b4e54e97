"""Look at report.html in a real browser: headless Chromium (Debian's ``chromium`` package),
offline (every host name resolves to nothing, so an external resource could not load), one
screenshot, and checks that the picture is not blank and that the page's own CSS was applied.

    python tests/browser_check.py outputs/refocus/report.html [--png /tmp/report.png]

Exit status 0 when the screenshot passes, 1 when it does not, 2 when Chromium is missing.
``tests/test_browser.py`` runs the same check in the suite (skipped without Chromium).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

BROWSERS = ("chromium", "chromium-browser")
HEADLINE_BORDER = (0x44, 0x77, 0xAA)     # p.headline's left border in report_html.CSS


def find_browser() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def screenshot(html: Path, png: Path, *, width: int = 1200, height: int = 2000,
               browser: str | None = None) -> Path:
    """Render ``html`` headless and offline into ``png``."""
    browser = browser or find_browser()
    if browser is None:
        raise FileNotFoundError("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", "--hide-scrollbars",
                        "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
                        f"--screenshot={png}", f"--window-size={width},{height}",
                        Path(html).resolve().as_uri()],
                       check=True, capture_output=True, timeout=180)
    return png


def problems(png: Path) -> list[str]:
    """Why the screenshot looks wrong ([] when it looks like a rendered report)."""
    import matplotlib.image

    rgb = (matplotlib.image.imread(str(png))[..., :3] * 255).round()      # (rows, cols, 3)
    out = []
    ink = (rgb < 235).any(axis=2).mean()
    if ink < 0.03:
        out.append(f"nearly blank: {ink:.1%} of pixels are not white")
    if rgb.std() < 10:
        out.append(f"almost uniform: pixel SD {rgb.std():.1f}")
    border = (np.abs(rgb - np.array(HEADLINE_BORDER)) <= 6).all(axis=2).sum()
    if border < 200:
        out.append(f"the answer's headline box is not drawn ({border} border pixels)")
    colours = len(np.unique(rgb.reshape(-1, 3)[::7], axis=0))
    if colours < 50:
        out.append(f"only {colours} colours: the embedded plots did not render")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("--png", type=Path, default=None)
    args = parser.parse_args(argv)
    if find_browser() is None:
        print("chromium not found", file=sys.stderr)
        return 2
    png = args.png or Path(tempfile.mkdtemp()) / "report.png"
    found = problems(screenshot(args.html, png))
    for line in found:
        print(f"{args.html}: {line}", file=sys.stderr)
    print(f"{png}: {'looks wrong' if found else 'rendered'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
