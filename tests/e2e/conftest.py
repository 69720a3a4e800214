"""Browser tests: Debian's Chromium driven by Playwright against a live server.

The server is pytest-django's live server on the test database, loaded with the demo
data that `make run` shows. Texts go through the console backend and Celery tasks
run eagerly, as they would through a worker, so a text's status settles at once.
Every page a test opens is checked for console errors when the test ends.
"""

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
VENDOR = Path(__file__).parent / "vendor"
AXE_SCRIPT = VENDOR / "axe-4.14.1.min.js"
DEMO_PASSWORD = "e2e-demo-password-2026"
DESKTOP = {"width": 1366, "height": 768}
TABLET = {"width": 768, "height": 1024}
# Screenshots for the README are written only when asked: `make screenshots`.
SCREENSHOT_DIR = os.environ.get("E2E_SCREENSHOT_DIR", "")


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith("tests/e2e/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def browser(django_db_setup, live_server):
    # Playwright's sync API keeps an event loop in this thread. The tests' own ORM
    # calls are plain synchronous code, so Django's async-safety guard is lifted,
    # but only while a browser module runs: other tests (and the subprocesses
    # they start) must not inherit it.
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium package."
        )
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def demo(live_server, settings, transactional_db):
    """The demo center: users, teams, sources, tracking number and some leads."""
    settings.SMS_BACKEND = "console"
    settings.VOICE_BACKEND = "console"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_TASK_EAGER_PROPAGATES = True
    settings.PUBLIC_BASE_URL = live_server.url
    settings.ALLOWED_HOSTS = ["*"]
    _reseed_migration_data()
    call_command("seed_demo", password=DEMO_PASSWORD, leads=60, verbosity=0)
    return live_server


def _reseed_migration_data() -> None:
    """Put back the rows data migrations seed (the default cadence, the payer list).

    Browser tests commit for real, and the database is emptied after each one,
    migration rows included; both functions only add what is missing.
    """
    from django.apps import apps
    from django.db import connection

    # What a RunPython function reads of its schema editor: the connection.
    editor = SimpleNamespace(connection=connection)
    for module, function in (
        ("leads.migrations.0003_default_cadence", "create_default_cadence"),
        ("leads.migrations.0006_payer_list", "seed_payers"),
    ):
        getattr(importlib.import_module(module), function)(apps, editor)


class PageProblems:
    """Console errors and uncaught exceptions a page raised."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.expected_statuses: set[int] = set()

    def console(self, message) -> None:
        if message.type != "error":
            return
        # The browser logs every 4xx answer; a test that provokes one on purpose
        # (a form sent with an error) says so, and only that status is let through.
        for status in self.expected_statuses:
            if f"status of {status} " in message.text:
                return
        self.errors.append(f"console: {message.text}")

    def page_error(self, error) -> None:
        self.errors.append(f"pageerror: {error}")


@pytest.fixture
def open_page(browser, demo) -> Iterator:
    """Open a fresh browser context (desktop size unless told) and watch its pages."""
    contexts = []
    problems = PageProblems()

    def _open(viewport: dict | None = None):
        context = browser.new_context(
            viewport=viewport or DESKTOP, base_url=demo.url, locale="en-US"
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", problems.console)
        page.on("pageerror", problems.page_error)
        return page

    _open.expect_http_error = problems.expected_statuses.add
    yield _open
    for context in contexts:
        context.close()
    assert problems.errors == [], "the browser reported errors"


def sign_in(page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def accessibility_violations(page) -> list[dict]:
    """Run axe-core (WCAG 2 A and AA rules) on the page as it is now."""
    page.add_script_tag(path=str(AXE_SCRIPT))
    result = page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: "tag", values: tags}});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
            }));
        }""",
        ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"],
    )
    return result


def overflows_horizontally(page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth > window.innerWidth + 1"
    )


def screenshot(page, name: str) -> None:
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / f"{name}.png"), full_page=True)
