"""A PNG screenshot of an HTML page (e.g. ``rnnkit diagnose activations``' ``activations.html``) with headless
Chromium, for the pictures in the docs. It trains nothing and changes nothing: it only renders the page.

Run: ``python benchmarks/activation_screenshot.py PAGE.html OUT.png [--unit N] [--width 1200] [--height 900]``.
``--unit N`` opens the page at ``#unit=N``, which shows that unit first (it must be one of the page's units).
Chromium is looked for as ``$CHROMIUM``, then ``chromium``, ``chromium-browser``, ``google-chrome``,
``google-chrome-stable`` on the PATH (Debian/Ubuntu: ``apt-get install -y chromium``); ``--chromium PATH`` names
it. The page is opened from a file, with networking off.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium(given: str | None) -> str | None:
    """The Chromium executable: ``given``, else ``$CHROMIUM``, else the first of :data:`CANDIDATES` found."""
    for name in (given, os.environ.get("CHROMIUM"), *CANDIDATES):
        if name and (path := shutil.which(name)):
            return path
    return None


def screenshot(chromium: str, page: Path, out: Path, width: int, height: int, fragment: str = "",
               timeout: float = 120.0) -> None:
    """Render ``page`` (plus ``#fragment``) at ``width`` × ``height`` CSS pixels and write the PNG ``out``."""
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rnnkit-chromium-") as profile:
        argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--force-device-scale-factor=1",
                f"--user-data-dir={profile}", f"--window-size={width},{height}", "--virtual-time-budget=3000",
                f"--screenshot={out.resolve()}", url]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"{chromium} exited with status {result.returncode} and wrote no {out}:\n"
                           f"{result.stderr.strip()[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", type=Path, help="the HTML page to render")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--unit", type=int, help="open the page at #unit=N (an activation map's unit N)")
    parser.add_argument("--width", type=int, default=1200, help="window width in CSS pixels (default: 1200)")
    parser.add_argument("--height", type=int, default=900, help="window height in CSS pixels (default: 900)")
    parser.add_argument("--chromium", help="the Chromium (or Chrome) executable to use")
    args = parser.parse_args(argv)
    if not args.page.is_file():
        print(f"activation_screenshot: {args.page}: no such file", file=sys.stderr)
        return 2
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("activation_screenshot: no Chromium found (looked for --chromium, $CHROMIUM, "
              f"{', '.join(CANDIDATES)}); install it, e.g. 'apt-get install -y chromium', or pass --chromium PATH",
              file=sys.stderr)
        return 2
    fragment = f"unit={args.unit}" if args.unit is not None else ""
    try:
        screenshot(chromium, args.page, args.out, args.width, args.height, fragment)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"activation_screenshot: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({args.width}×{args.height}) from {args.page} with {chromium}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
