"""Debian's Chromium driven by Playwright (no browser download), axe-core checks, and the place
where browser tests keep their screenshots (build/portal-screenshots, or SAHAB_ARTEFACTS_DIR)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("SAHAB_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(
    os.environ.get("SAHAB_AXE_JS")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "sahab"
    / "npm"
    / "node_modules"
    / "axe-core"
    / "axe.min.js"
)
SERIOUS = {"serious", "critical"}


def artefacts_dir() -> Path:
    path = Path(os.environ.get("SAHAB_ARTEFACTS_DIR") or ROOT / "build") / "portal-screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def chromium() -> Iterator[Any]:
    """A Chromium browser; fails (never skips) when Chromium or Playwright is missing."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: apt-get install chromium (./dev test does)", pytrace=False
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def serious_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations of serious or critical impact on the page as it is now."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is not installed at {AXE}: ./dev test runs npm ci into the cache", pytrace=False)
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("""() => axe.run(document, {runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})""")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


FOCUSED = """() => { const e = document.activeElement;
  if (!e || e === document.body) { return null; }
  const s = getComputedStyle(e);
  const outlined = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
  return {tag: e.tagName.toLowerCase(), id: e.id, text: (e.innerText || e.value || '').slice(0, 40),
          focusVisible: e.matches(':focus-visible'), visible: outlined || s.boxShadow !== 'none'}; }"""


def focused(page: Any) -> dict[str, Any] | None:
    """The focused element, and whether the focus shows (a keyboard focus ring of 2px or more)."""
    result: dict[str, Any] | None = page.evaluate(FOCUSED)
    return result


def tab_to(page: Any, selector: str, *, backwards: bool = False, limit: int = 80) -> None:
    """Press Tab (Shift+Tab backwards) until `selector` has the focus, asserting at every stop that the
    focused element shows its focus; fails when `selector` is not reached by the keyboard."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        element = focused(page)
        assert element is not None, f"the focus left the page on the way to {selector}"
        assert element["focusVisible"] and element["visible"], f"focus not visible on {element}"
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} was not reached with {'Shift+Tab' if backwards else 'Tab'} in {limit} presses")
