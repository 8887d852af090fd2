"""A real browser for the dashboard's tests: Debian's Chromium, headless, driven by Selenium through the
system chromedriver (never Selenium Manager: nothing is downloaded), plus a screenshot of every test.

    from tests.dashboard.browser import browser, chromium   # the fixtures

    def test_...(browser: Browser) -> None:
        browser.open(url, page="overview")

`make test` installs `chromium` and `chromium-driver` with apt when they are missing. Without them the
browser tests skip with a reason that says so, except under CI=true, where they fail. The browser only
reaches loopback: every other address goes to a proxy on a closed loopback port, and Chromium's own
background traffic (updates, sync, metrics) is switched off.

Screenshots go to `test-artifacts/screenshots/<test>.png` at the repository's root (git-ignored, uploaded
by the CI workflow), taken when each test ends, passed or failed, with the console's messages beside them
(`<test>.console.txt`).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
INSTALL = "apt-get install -y chromium chromium-driver; `make test` does it"
WAIT_S = 30.0  # generous: the machine may be busy with other test workers, emulators and child processes
T = TypeVar("T")

# Every browser a CI runner or a developer's machine may have, Debian's first.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # root in CI and in containers
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions",
    "--metrics-recording-only",
    "--password-store=basic",
    # Loopback only: loopback addresses bypass a proxy; everything else goes to this closed port and fails.
    "--proxy-server=http://127.0.0.1:9",
)


def _missing(message: str) -> None:
    """Fail under CI=true (every test must run there), else skip saying how to install what is missing."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


try:
    from selenium import webdriver
    from selenium.common.exceptions import JavascriptException, TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support.wait import WebDriverWait
except ImportError:  # an environment installed before selenium joined the `test` extra
    if os.environ.get("CI"):
        raise
    pytest.skip("selenium is not installed (pip install -e '.[test]'; `make test` does it)", allow_module_level=True)


def find_chromium() -> tuple[str, str] | None:
    """(browser, chromedriver) paths: $GENAIOPS_CHROMIUM and $GENAIOPS_CHROMEDRIVER when set, else the first
    browser of BROWSERS on PATH and `chromedriver` on PATH (or in $CHROMEWEBDRIVER, as on GitHub runners)."""
    browser = os.environ.get("GENAIOPS_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    driver = os.environ.get("GENAIOPS_CHROMEDRIVER") or shutil.which("chromedriver")
    if driver is None and os.environ.get("CHROMEWEBDRIVER"):
        driver = shutil.which("chromedriver", path=os.environ["CHROMEWEBDRIVER"])
    return (browser, driver) if browser and driver else None


def start_chromium() -> webdriver.Chrome:
    """A headless Chromium through the system chromedriver (the Service path is explicit, so Selenium
    Manager never runs); skips (fails under CI=true) when either is missing."""
    found = find_chromium()
    if found is None:
        _missing(f"Chromium and chromedriver are not installed ({INSTALL})")
        raise AssertionError("unreachable")
    browser, driver = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=driver, log_output=os.devnull)
    try:
        chrome = webdriver.Chrome(options=options, service=service)
    except WebDriverException as err:
        _missing(f"Chromium did not start ({browser}, {driver}): {err.msg} ({INSTALL})")
        raise
    chrome.set_page_load_timeout(WAIT_S)
    chrome.set_script_timeout(WAIT_S)
    return chrome


class Browser:
    """The session's Chromium, with the waits and reads the dashboard's tests use."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver

    # -- navigation ---------------------------------------------------------------------------------
    def open(self, url: str, *, page: str) -> None:
        """Load `url` afresh (a full navigation, even when only the #fragment differs from the current URL)
        and wait until the page `page` says it is drawn."""
        self.driver.get("about:blank")
        self.driver.get(url)
        self.wait_ready(page)

    def go(self, fragment: str, *, page: str) -> None:
        """Move to `#fragment` inside the loaded app (no reload), and wait until `page` is drawn."""
        self.js("location.hash = arguments[0];", fragment)
        self.wait_ready(page, fragment=fragment)

    def ready(self, page: str, fragment: str | None = None) -> bool:
        """Whether the page `page` is drawn (`body[data-ready=true][data-page=page]`, and the hash is
        `fragment` when given)."""
        return bool(
            self.js(
                "const b = document.body;"
                "return !!b && b.dataset.ready === 'true' && b.dataset.page === arguments[0]"
                " && (arguments[1] === null || location.hash === arguments[1]);",
                page,
                fragment,
            )
        )

    def wait_ready(self, page: str, *, fragment: str | None = None) -> None:
        """Wait until the page `page` is drawn."""
        self.wait_until(lambda: self.ready(page, fragment), what=f"the {page} page to be ready")

    def wait_until(self, predicate: Callable[[], T | None], *, what: str, timeout_s: float = WAIT_S) -> T:
        """Poll `predicate` until it returns something truthy, and return that; a TimeoutException naming
        `what` (with the page's state) after `timeout_s`."""
        try:
            found = WebDriverWait(self.driver, timeout_s, poll_frequency=0.05).until(lambda _: predicate())
            assert found is not None  # until() returns only a truthy value
            return found
        except TimeoutException as err:
            raise TimeoutException(f"timed out after {timeout_s:.0f}s waiting for {what}; {self.state()}") from err

    def state(self) -> str:
        """The page's URL, body flags and hooks, for failure messages."""
        try:
            flags = self.js(
                "return {url: location.href, page: document.body && document.body.dataset.page,"
                " ready: document.body && document.body.dataset.ready, hooks: window.__genaiops || null,"
                " error: (document.querySelector('[data-testid=error]') || {}).textContent || null};"
            )
        except WebDriverException as err:
            return f"page unreadable: {err.msg}"
        return f"page state {flags}"

    # -- reading the page ---------------------------------------------------------------------------
    def js(self, script: str, *args: Any) -> Any:
        """Run `script` in the page (a function body: `return ...`) and give its result."""
        return self.driver.execute_script(script, *args)

    def hooks(self) -> dict[str, Any]:
        """`window.__genaiops` ({page, renderMs, version, ...}); {} when the app has not set it."""
        value = self.js("return window.__genaiops ? JSON.parse(JSON.stringify(window.__genaiops)) : {};")
        return dict(value) if isinstance(value, dict) else {}

    def find(self, css: str) -> WebElement:
        """The first element matching `css`, waited for."""
        return self.wait_until(lambda: self.driver.find_elements(By.CSS_SELECTOR, css)[:1], what=css)[0]

    def find_all(self, css: str) -> list[WebElement]:
        """Every element matching `css` now (no wait)."""
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def console(self) -> list[dict[str, Any]]:
        """The console's messages since the last call (Chromium keeps them until read)."""
        try:
            return list(self.driver.get_log("browser"))  # type: ignore[no-untyped-call]
        except (WebDriverException, JavascriptException):
            return []

    def on_new_document(self, script: str) -> Callable[[], None]:
        """Run `script` in every page this browser loads from now on, before the page's own scripts (Chromium's
        DevTools protocol); returns the function that stops it."""
        added = self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": script})
        identifier = added["identifier"]
        return lambda: self.driver.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": identifier}
        )

    def screenshot(self, name: str, *, max_height: int = 4000) -> Path:
        """Save the whole page (down to `max_height` CSS pixels) to test-artifacts/screenshots/`name`.png."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        size = self.js(
            "window.scrollTo(0, 0);"  # a sticky header stays on top of the picture
            "const e = document.documentElement;"
            "return [Math.max(e.scrollWidth, innerWidth), Math.max(e.scrollHeight, innerHeight)];"
        )
        clip = {"x": 0, "y": 0, "width": size[0], "height": min(size[1], max_height), "scale": 1}
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def screenshot_of(self, element: WebElement, name: str) -> Path:
        """Save one element (a chart) to test-artifacts/screenshots/`name`.png."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.js("arguments[0].scrollIntoView({block: 'center'});", element)
        element.screenshot(str(path))
        return path


def artifact_name(nodeid_name: str) -> str:
    """A file name for a test (`test_x[param]` -> `test_x-param`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", nodeid_name).strip("-")


@pytest.fixture(scope="session")
def chromium() -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the session (each xdist worker has its own)."""
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium: webdriver.Chrome, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """The session's Chromium for one test; its screenshot and console are saved when the test ends,
    passed or failed."""
    chromium.get_log("browser")  # type: ignore[no-untyped-call]  # forget the previous test's messages
    page = Browser(chromium)
    started = time.monotonic()
    try:
        yield page
    finally:
        name = artifact_name(request.node.name)
        try:
            page.screenshot(name)
            lines = [f"{entry.get('level')} {entry.get('message')}" for entry in page.console()]
            lines.append(f"-- {time.monotonic() - started:.1f}s; {page.state()}")
            (SCREENSHOTS / f"{name}.console.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
            chromium.get("about:blank")  # closes the page's event stream before its server stops
        except WebDriverException as err:  # a crashed browser must not hide the test's own failure
            print(f"no screenshot of {name}: {err.msg}")
