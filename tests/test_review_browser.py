"""The review page in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) opens the page `labelloop review` serves, signs in through
the local sign-in, labels one task with a click and one with a keyboard shortcut, skips one, labels
one through the filter box, and the saved run then holds the answers, the training copies and the
reviewer's counts. The same page on a phone-sized screen keeps every label reachable.

``LABELLOOP_SCREENSHOTS=DIR`` keeps the screenshots (``docs/images`` holds the ones the docs show)."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from handlers.runtime import layout
from sandbox.api_gateway import reviewer_claims
from sandbox.review_server import review_sandbox
from sandbox.runner import SandboxOptions, run

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.fail("the browser tests need Debian's chromium and chromium-driver: `make test` installs them "
                "(as root), or run `sudo apt-get install chromium chromium-driver`", pytrace=False)

from selenium import webdriver  # noqa: E402  (after the check that says what is missing)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def open_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser-run")
    run(SandboxOptions(out=folder, images=320, holdout=40, rounds=2, seed=4, leave_reviews_open=True,
                       parameters={"Minimum-Untrained-Images": "5"}))
    return folder


class Served:
    """The run's review app on a free port, until :meth:`stop` (which saves the run back)."""

    def __init__(self, folder: Path):
        ready, self.running = threading.Event(), {}

        def on_ready(server, app):
            self.running.update(server=server, app=app)
            ready.set()

        self.thread = threading.Thread(target=review_sandbox, args=(folder,),
                                       kwargs={"port": 0, "on_ready": on_ready})
        self.thread.start()
        assert ready.wait(WAIT_SECONDS), "the review server did not start"
        self.url = self.running["app"].review_url

    def stop(self) -> None:
        if self.thread.is_alive():
            self.running["server"].shutdown()
            self.thread.join(WAIT_SECONDS)
        assert not self.thread.is_alive(), "the review server did not stop"


@pytest.fixture
def served(open_run):
    app = Served(open_run)
    yield app
    app.stop()


def chromium(tmp_path: Path, width: int, height: int):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    return driver


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path, 1366, 900)
    yield driver
    driver.quit()


def screenshot(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    assert driver.save_screenshot(str(path))
    if os.environ.get("LABELLOOP_SCREENSHOTS"):
        keep = Path(os.environ["LABELLOOP_SCREENSHOTS"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, keep / name)
    return path


class ReviewPage:
    """What a person sees and does on the page."""

    def __init__(self, driver):
        self.driver = driver
        self.wait = WebDriverWait(driver, WAIT_SECONDS)

    def sign_in(self, url: str, name: str) -> None:
        self.driver.get(url)
        field = self.wait.until(lambda d: d.find_elements(By.NAME, "username"))[0]  # the sign-in page
        field.send_keys(name)
        self.driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def task_shown(self) -> str:
        """Wait for a task whose image has loaded; its upload's key."""
        self.wait.until(lambda d: not self.hidden("image-card") and self.buttons_enabled() and d.execute_script(
            "const i = document.getElementById('image'); return i.complete && i.naturalWidth > 0"))
        image = self.driver.find_element(By.ID, "image").get_attribute("src")
        return urlsplit(parse_qs(urlsplit(image).query)["url"][0]).path.lstrip("/")

    def hidden(self, element_id: str) -> bool:
        return self.driver.execute_script(f"return document.getElementById('{element_id}').hidden")

    def buttons_enabled(self) -> bool:
        return self.driver.execute_script("return [...document.querySelectorAll('#panel button')].every(b => !b.disabled)")

    def labels(self) -> list[tuple[str, str]]:
        """The label buttons shown: (label, its shortcut key)."""
        return [(b.get_attribute("data-label"), b.find_element(By.TAG_NAME, "kbd").text)
                for b in self.driver.find_elements(By.CSS_SELECTOR, "#labels button") if b.is_displayed()]

    def status(self) -> str:
        return self.driver.find_element(By.ID, "status").text

    def after(self, key: str, action) -> None:
        """Do ``action`` on the task with ``key`` and wait until the page has moved on from it."""
        action()
        self.wait.until(lambda d: self.hidden("image-card") or (self.buttons_enabled() and self.current_key() != key))

    def current_key(self) -> str | None:
        image = self.driver.find_element(By.ID, "image").get_attribute("src") or ""
        query = parse_qs(urlsplit(image).query)
        return urlsplit(query["url"][0]).path.lstrip("/") if "url" in query else None


def truth_of(folder: Path) -> dict[str, str]:
    return json.loads((folder / "state.json").read_text())["truth"]


def label_of(truth: dict[str, str], key: str) -> str:
    return next(label for uri, label in truth.items() if uri.endswith(key))


def test_a_person_signs_in_labels_by_click_key_and_filter_and_skips(open_run, served, browser, tmp_path):
    truth, page = truth_of(open_run), ReviewPage(browser)
    waiting = sum(1 for i in json.loads((open_run / "state.json").read_text())["items"]
                  if i["sk"] == "HL" and i["status"] == "open")
    assert waiting >= 4
    page.sign_in(served.url, "dana")
    labelled = {}

    key = page.task_shown()  # 1. a click on the label's button
    assert browser.find_element(By.ID, "reason").text and browser.find_elements(By.CSS_SELECTOR, "#guesses li")
    assert "waiting" in browser.find_element(By.ID, "waiting").text
    screenshot(browser, tmp_path, "review-page.png")
    label = label_of(truth, key)
    page.after(key, lambda: browser.find_element(By.CSS_SELECTOR, f'#labels button[data-label="{label}"]').click())
    labelled[key] = label

    key = page.task_shown()  # 2. the label's shortcut key
    label = label_of(truth, key)
    shortcut = dict(page.labels()).get(label)
    if not shortcut:  # the tenth label has no key of its own until the filter narrows the buttons to it
        browser.find_element(By.ID, "filter").send_keys(label)
        browser.execute_script("document.getElementById('filter').blur()")
        shortcut = dict(page.labels())[label]
    page.after(key, lambda: browser.find_element(By.TAG_NAME, "body").send_keys(shortcut))
    labelled[key] = label

    key = page.task_shown()  # 3. S skips
    page.after(key, lambda: browser.find_element(By.TAG_NAME, "body").send_keys("s"))
    skipped = key

    key = page.task_shown()  # 4. the filter box: typing narrows the buttons, Enter answers the one left
    label = label_of(truth, key)
    browser.find_element(By.ID, "filter").send_keys(label)
    assert page.labels() == [(label, "1")]
    page.after(key, lambda: browser.find_element(By.ID, "filter").send_keys(Keys.ENTER))
    labelled[key] = label

    page.wait.until(lambda d: "answered" in d.find_element(By.ID, "waiting").text
                    and d.find_element(By.ID, "waiting").text.endswith("3 answered"))
    assert skipped not in labelled

    served.stop()  # saves the run

    state = json.loads((open_run / "state.json").read_text())
    dana = reviewer_claims("dana", "access", 0, 0)["sub"]
    answered = {i["image_uri"].split("/", 3)[3]: i for i in state["items"] if i["sk"] == "HL"
                and any(a["worker"] == dana for a in i.get("result", {}).get("answers", []))}
    assert set(answered) == set(labelled)
    with tarfile.open(open_run / "objects.tar") as archive:
        objects = set(archive.getnames())
    for key, label in labelled.items():
        review = answered[key]
        assert review["status"] == "accepted" and review["result"]["label"] == label
        assert review["result"]["training_key"].startswith(f"{layout.TRAINING_PREFIX}{label}/")
        assert review["result"]["training_key"] in objects
    (skipped_review,) = [i for i in state["items"] if i["sk"] == "HL" and i["image_uri"].endswith(skipped)]
    assert skipped_review["status"] == "open"  # another reviewer may still answer it
    stats = next(i for i in state["items"] if (i["pk"], i["sk"]) == ("REVIEWERS", dana))
    assert (stats["answers"], stats["skips"]) == (3, 1)


def test_on_a_phone_sized_screen_every_label_is_reachable_without_sideways_scrolling(open_run, served, tmp_path):
    driver = chromium(tmp_path, 390, 844)
    try:
        page = ReviewPage(driver)
        page.sign_in(served.url, "eli")
        page.task_shown()
        width = driver.execute_script("return document.documentElement.clientWidth")
        assert driver.execute_script("return document.documentElement.scrollWidth") <= width
        buttons = driver.find_elements(By.CSS_SELECTOR, "#labels button, #none, #skip")
        assert len(buttons) == 12
        for button in buttons:
            box = button.rect
            assert box["x"] >= 0 and box["x"] + box["width"] <= width and box["height"] >= 40
        image = driver.find_element(By.ID, "image").rect
        assert image["width"] >= 0.8 * width  # the image, large, above the labels
        assert image["y"] < buttons[0].rect["y"]
        screenshot(driver, tmp_path, "review-page-phone.png")
    finally:
        driver.quit()
