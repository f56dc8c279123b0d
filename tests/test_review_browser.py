"""The review page in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) opens the page `labelloop review` serves for a saved run
(its labels are the digits dataset's, ``digit-0`` … ``digit-9``), signs in through the local
sign-in and reviews as a person would: by click, by key, through the filter box, skipping; undoing
an answer within its correction window; leaving the page with answers held; on a phone with a touch
screen. The saved run then holds exactly the answers given — never an undone one — their training
copies and the reviewer's counts.

The correction window is the page's ``data-undo-seconds`` (5 by default); tests that time it set
their own. ``LABELLOOP_SCREENSHOTS=DIR`` keeps the screenshots (``docs/images`` holds the ones the
docs show)."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from handlers.runtime import layout, state
from sandbox.api_gateway import reviewer_claims
from sandbox.review_server import review_sandbox
from sandbox.runner import SandboxOptions, run

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.fail("the browser tests need Debian's chromium and chromium-driver: `make test` installs them "
                "(as root), or run `sudo apt-get install chromium chromium-driver`", pytrace=False)

from selenium import webdriver  # noqa: E402  (after the check that says what is missing)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.actions import interaction  # noqa: E402
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.actions.pointer_input import PointerInput  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WAIT_SECONDS = 60
LONG_WINDOW = 120  # a correction window no test outlasts: what happens in it is not raced by its end
PHONE = {"width": 390, "height": 844, "pixelRatio": 2.0, "touch": True}  # Chrome's mobile emulation
DIGITS = [f"digit-{d}" for d in range(10)]


@pytest.fixture(scope="module")
def open_run(tmp_path_factory) -> Path:
    """A saved run whose last round left about 35 tasks open (reviewed below 95 % confidence)."""
    folder = tmp_path_factory.mktemp("browser-run")
    run(SandboxOptions(out=folder, images=320, holdout=40, rounds=2, seed=4, leave_reviews_open=True,
                       parameters={"Minimum-Untrained-Images": "5", "Minimum-Label-Detection-Confidence": "95"}))
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

    def call(self, name: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """The API as the reviewer ``name`` calls it from elsewhere (a script, another tab)."""
        token = self.running["app"].sign_in.sign(name, "access")
        request = urllib.request.Request(self.url + path.lstrip("/"), method=method,
                                         data=json.dumps(body).encode() if body else None,
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=WAIT_SECONDS) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def answers_of(self, name: str) -> int:
        """How many answers the app recorded for ``name``."""
        status, me = self.call(name, "GET", "/api/me")
        assert status == 200, me
        return me["answers"]

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


def chromium(tmp_path: Path, width: int, height: int, *, phone: bool = False):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, as a developer's tools show it
    if phone:  # a touch screen: coarse pointer, no hover, touch events
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    return driver


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path, 1366, 900)
    yield driver
    driver.quit()


@pytest.fixture
def phone(tmp_path):
    driver = chromium(tmp_path, PHONE["width"], PHONE["height"], phone=True)
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

    def undo_seconds(self, seconds: float) -> None:
        """The correction window of the answers given from now on."""
        self.driver.execute_script(f"document.body.dataset.undoSeconds = '{seconds}'")

    def task_shown(self) -> str:
        """Wait for a task whose image has loaded; its upload's key."""
        self.wait.until(lambda d: not self.hidden("image-card") and self.buttons_enabled() and d.execute_script(
            "const i = document.getElementById('image'); return i.complete && i.naturalWidth > 0"))
        return self.current_key()

    def hidden(self, element_id: str) -> bool:
        # (no such element: the page is not the review page yet, as after the sign-in's submit)
        return self.driver.execute_script(f"const e = document.getElementById('{element_id}'); return !e || e.hidden")

    def buttons_enabled(self) -> bool:
        return self.driver.execute_script("return [...document.querySelectorAll('#panel button')].every(b => !b.disabled)")

    def labels(self) -> list[tuple[str, str]]:
        """The label buttons shown: (label, its shortcut key)."""
        return [(b.get_attribute("data-label"), b.find_element(By.TAG_NAME, "kbd").text)
                for b in self.driver.find_elements(By.CSS_SELECTOR, "#labels button") if b.is_displayed()]

    def label_button(self, label: str):
        return self.driver.find_element(By.CSS_SELECTOR, f'#labels button[data-label="{label}"]')

    def press(self, key: str) -> None:
        """Type ``key`` wherever the keyboard's focus is, as a person does."""
        ActionChains(self.driver).send_keys(key).perform()

    def status(self) -> list[str]:
        """The status lines shown, newest first (without their Undo buttons)."""
        return self.driver.execute_script(  # at one moment: the lines change as answers are sent
            "return [...document.querySelectorAll('#status li')].filter((line) => line.checkVisibility())"
            ".map((line) => line.firstChild.textContent)")

    def keep_status_log(self) -> None:
        """Log every status line the page shows from now on (:meth:`status_log`)."""
        self.driver.execute_script(
            "window.statusLog = []; new MutationObserver(() => statusLog.push(...[...document.querySelectorAll("
            "'#status li')].map((line) => line.firstChild.textContent))).observe(document.getElementById('status'),"
            " {subtree: true, childList: true, characterData: true})")

    def status_log(self) -> set[str]:
        return set(self.driver.execute_script("return statusLog"))

    def wait_status(self, line: str) -> None:
        self.wait.until(lambda _: line in self.status(), f"the status never said {line!r}: {self.status()}")

    def after(self, key: str, action) -> str:
        """Do ``action`` on the task with ``key``; the key of the next task, once it is shown."""
        action()
        self.wait.until(lambda d: self.hidden("image-card") or (self.buttons_enabled() and self.current_key() != key))
        return self.task_shown()

    def current_key(self) -> str | None:
        image = self.driver.find_element(By.ID, "image").get_attribute("src") or ""
        query = parse_qs(urlsplit(image).query)
        return urlsplit(query["url"][0]).path.lstrip("/") if "url" in query else None

    def focus(self) -> str:
        return self.driver.execute_script("return document.activeElement.id || document.activeElement.tagName")


def truth_of(folder: Path) -> dict[str, str]:
    return json.loads((folder / "state.json").read_text())["truth"]


def label_of(truth: dict[str, str], key: str) -> str:
    return next(label for uri, label in truth.items() if uri.endswith(key))


def other_than(label: str) -> str:
    return next(d for d in DIGITS if d != label)


def answers_by(folder: Path, name: str) -> dict[str, dict]:
    """The saved run's tasks ``name`` answered, by their upload's key."""
    items = json.loads((folder / "state.json").read_text())["items"]
    who = reviewer_claims(name, "access", 0, 0)["sub"]
    return {i["image_uri"].split("/", 3)[3]: i for i in items if i["sk"] == "HL"
            and any(a["worker"] == who for a in i.get("result", {}).get("answers", []))}


def training_copies(folder: Path, review: dict) -> list[str]:
    """Every training copy the saved run holds of the task's image, whatever its label."""
    with tarfile.open(folder / "objects.tar") as archive:
        return [name for name in archive.getnames() if name.startswith(layout.TRAINING_PREFIX)
                and name.endswith(f"/{review['detection_id']}.png")]


def assert_accepted_once(folder: Path, name: str, labelled: dict[str, str]) -> None:
    """``name`` answered exactly the tasks of ``labelled``, each once, with its label, and each image
    has one training copy: in that label's folder."""
    answered = answers_by(folder, name)
    assert set(answered) == set(labelled)
    for key, label in labelled.items():
        review = answered[key]
        assert [a["label"] for a in review["result"]["answers"]] == [label]
        assert review["status"] == "accepted" and review["result"]["label"] == label
        assert training_copies(folder, review) == [layout.training_key(label, review["detection_id"], key)]


def test_a_person_signs_in_labels_by_click_key_and_filter_and_skips(open_run, served, browser, tmp_path):
    truth, page = truth_of(open_run), ReviewPage(browser)
    page.sign_in(served.url, "dana")
    labelled = {}

    key = page.task_shown()  # 1. a click on the label's button
    assert browser.find_element(By.ID, "reason").text and browser.find_elements(By.CSS_SELECTOR, "#guesses li")
    assert "waiting" in browser.find_element(By.ID, "waiting").text
    assert page.labels() == [(label, label[-1]) for label in DIGITS]  # each digit label's key is its digit
    assert [b.text.split("\n") for b in browser.find_elements(By.CSS_SELECTOR, "#none, #skip")] == [
        ["None of the Above", "N"], ["Skip", "S"]]
    assert state.TASK_CURSOR.match(browser.execute_script("return sessionStorage.getItem('resume')"))
    labelled[key] = label = label_of(truth, key)
    key = page.after(key, lambda: page.label_button(label).click())
    screenshot(browser, tmp_path, "review-page.png")  # the next task; the last answer at the bottom
    assert page.focus() == "BODY"  # the keys work on the page, not on the clicked button
    page.wait_status(f"saved: {label}")  # after the default window, 5 s
    page.undo_seconds(0.5)

    labelled[key] = label = label_of(truth, key)  # 2. the label's digit: 8 on an 8 is digit-8
    key = page.after(key, lambda: page.press(label[-1]))

    skipped = key  # 3. S skips
    key = page.after(key, lambda: page.press("s"))

    filter_box = browser.find_element(By.ID, "filter")  # 4. the filter box
    filter_box.send_keys("cat")
    assert page.labels() == [] and browser.find_element(By.ID, "no-match").text == \
        "No label matches “cat”. Esc clears the filter."
    page.press(Keys.ESCAPE)
    assert len(page.labels()) == 10 and not browser.find_element(By.ID, "no-match").is_displayed()
    labelled[key] = label = label_of(truth, key)
    filter_box.send_keys(label)  # typing narrows the buttons, Enter answers the one left
    assert page.labels() == [(label, label[-1])]
    key = page.after(key, lambda: page.press(Keys.ENTER))
    assert page.focus() == "BODY" and browser.find_element(By.ID, "filter").get_attribute("value") == ""

    labelled[key] = last = label_of(truth, key)  # 5. the keyboard is the page's again: a key answers
    page.after(key, lambda: page.press(last[-1]))

    page.wait.until(lambda d: d.find_element(By.ID, "waiting").text.endswith("4 answered"))
    assert page.status() == [f"saved: {last}", f"saved: {label}", "saved: skip"]
    served.stop()  # saves the run

    assert skipped not in labelled
    assert_accepted_once(open_run, "dana", labelled)
    items = json.loads((open_run / "state.json").read_text())["items"]
    (skipped_review,) = [i for i in items if i["sk"] == "HL" and i["image_uri"].endswith(skipped)]
    assert skipped_review["status"] == "open"  # another reviewer may still answer it
    stats = next(i for i in items if (i["pk"], i["sk"]) == ("REVIEWERS", reviewer_claims("dana", "access", 0, 0)["sub"]))
    assert (stats["answers"], stats["skips"]) == (4, 1)


def test_the_sign_in_checks_the_name_as_typed_and_no_page_logs_an_error(served, browser):
    browser.get(served.url)
    field = WebDriverWait(browser, WAIT_SECONDS).until(lambda d: d.find_elements(By.NAME, "username"))[0]
    for name, allowed in (("dana", True), ("d.a_n-a", True), ("Dana Smith", False), ("-dana", False)):
        field.clear()
        field.send_keys(name)
        assert browser.execute_script("return arguments[0].validity.patternMismatch", field) is not allowed, name
    field.clear()
    page = ReviewPage(browser)
    page.sign_in(served.url, "hal")
    page.task_shown()
    # A pattern the browser cannot compile, or a request for an icon the server does not have, is an error here.
    assert [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []


def test_labels_take_the_digits_their_names_end_in_else_their_place(browser):
    browser.get((Path(__file__).parents[1] / "handlers" / "review_page.html").as_uri())  # the page's own script
    keys = {"digits": DIGITS, "grades": ["1", "2", "3", "4", "5"], "named": ["grade 3", "grade 1"],
            "words": ["cat", "dog"], "one without": ["digit-1", "digit-2", "other"],
            "repeated": ["digit-1", "digit-11"], "numbers": ["digit-10", "digit-2"]}
    found = browser.execute_script("return Object.fromEntries(Object.entries(arguments[0])"
                                   ".map(([name, labels]) => [name, digitKeys(labels)]))", keys)
    assert found == {"digits": [str(d) for d in range(10)], "grades": ["1", "2", "3", "4", "5"],
                     "named": ["3", "1"], "words": None, "one without": None, "repeated": None, "numbers": None}


def test_an_undone_answer_is_never_sent_and_its_task_comes_back(open_run, served, browser):
    truth, page = truth_of(open_run), ReviewPage(browser)
    page.sign_in(served.url, "fay")
    first = page.task_shown()
    page.undo_seconds(LONG_WINDOW)
    wrong = other_than(label_of(truth, first))
    second = page.after(first, lambda: page.press(wrong[-1]))  # a slip of the finger
    assert second != first  # the held task is not served again meanwhile
    assert len(page.status()) == 1 and page.status()[0].startswith(f"{wrong} · sending in ")
    assert served.answers_of("fay") == 0  # held in the page: nothing recorded, nothing copied

    page.press("u")  # U brings the task back, with its image
    page.wait.until(lambda _: page.current_key() == first)
    page.task_shown()
    assert page.status() == [f"undone: {wrong}"]
    page.undo_seconds(0.5)
    right = label_of(truth, first)
    assert page.after(first, lambda: page.press(right[-1])) == second  # the task the undo put aside
    page.wait_status(f"saved: {right}")

    page.undo_seconds(LONG_WINDOW)  # the Undo button does the same
    wrong_again = other_than(label_of(truth, second))
    page.after(second, lambda: page.press(wrong_again[-1]))
    browser.find_element(By.CSS_SELECTOR, "#status li.held button").click()
    page.wait.until(lambda _: page.current_key() == second)
    page.undo_seconds(0.5)
    page.after(second, lambda: page.label_button(label_of(truth, second)).click())
    page.wait_status(f"saved: {label_of(truth, second)}")
    assert served.answers_of("fay") == 2
    served.stop()

    assert_accepted_once(open_run, "fay", {first: right, second: label_of(truth, second)})


def test_the_status_says_saved_only_once_the_app_took_an_answer_why_it_refused_one_and_when_it_tries_again(
        open_run, served, browser):
    truth, page = truth_of(open_run), ReviewPage(browser)
    page.sign_in(served.url, "gus")
    first = page.task_shown()
    page.keep_status_log()
    page.undo_seconds(10)
    label = label_of(truth, first)
    key = page.after(first, lambda: page.press(label[-1]))
    before = page.status()
    recorded = served.answers_of("gus")
    still = page.status()
    assert before[0].startswith(f"{label} · sending in ") and still[0].startswith(f"{label} · sending in ")
    assert recorded == 0  # the window had not ended when the app was asked

    # meanwhile, a task this reviewer answers in another tab first
    assert served.call("gus", "POST", f"/api/tasks/{browser.execute_script('return task.id')}/answer",
                       {"label": label_of(truth, key)})[0] == 200
    refused = other_than(label)  # pressed here then refused: a label the first answer's "saved" cannot be
    page.undo_seconds(0.5)
    third = page.after(key, lambda: page.press(refused[-1]))
    page.wait_status(f"not saved: {refused} — the task is closed")

    page.wait_status(f"saved: {label}")
    assert f"saved: {refused}" not in page.status_log()  # never, not for a moment

    def block(*urls: str) -> None:  # requests the browser fails, as when the app is out of reach
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": list(urls)})

    browser.execute_cdp_cmd("Network.enable", {})
    block("*/answer", "*/api/tasks/next*")  # the answer and the next task are tried again until they go
    retried = label_of(truth, third)
    page.press(retried[-1])
    page.wait.until(lambda _: page.status()[0].startswith(
        f"{retried} · not sent yet: the review app did not answer; trying again in "))
    page.wait.until(lambda d: d.find_element(By.ID, "message").text.startswith("Could not load a task: "))
    block()
    page.wait_status(f"saved: {retried}")
    assert page.task_shown() not in (first, key, third)
    assert served.answers_of("gus") == 3
    served.stop()

    assert_accepted_once(open_run, "gus", {first: label, key: label_of(truth, key), third: retried})


def test_answers_held_when_the_page_is_hidden_or_closed_or_the_sign_in_expires_are_not_lost(open_run, served, browser):
    truth, page = truth_of(open_run), ReviewPage(browser)
    page.sign_in(served.url, "ivy")
    review_tab = browser.current_window_handle
    labelled = {}
    key = page.task_shown()
    page.undo_seconds(LONG_WINDOW)
    labelled[key] = label = label_of(truth, key)
    key = page.after(key, lambda: page.press(label[-1]))
    browser.switch_to.new_window("tab")  # the review tab is hidden
    page.wait.until(lambda _: served.answers_of("ivy") == 1)
    browser.switch_to.window(review_tab)
    page.wait_status(f"saved: {label}")

    labelled[key] = label = label_of(truth, key)
    page.after(key, lambda: page.press(label[-1]))
    assert page.status()[0].startswith(f"{label} · sending in ")
    browser.close()  # the review tab is closed
    browser.switch_to.window(browser.window_handles[0])
    page.wait.until(lambda _: served.answers_of("ivy") == 2)

    page.sign_in(served.url, "ivy")  # the sign-in expires while an answer is held: the app answers 401
    key = page.task_shown()
    browser.execute_script("const tokens = JSON.parse(sessionStorage.getItem('tokens'));"
                           "sessionStorage.setItem('tokens', JSON.stringify({...tokens, access: 'expired'}))")
    page.undo_seconds(0.5)
    labelled[key] = label = label_of(truth, key)
    page.press(label[-1])
    field = page.wait.until(lambda d: d.find_elements(By.NAME, "username"))[0]  # signing in again
    field.send_keys("ivy")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    page.wait_status(f"saved: {label}")  # sent once back
    assert served.answers_of("ivy") == 3
    served.stop()

    assert_accepted_once(open_run, "ivy", labelled)


def test_on_a_phone_the_next_image_is_in_view_after_every_answer_and_no_key_is_hinted(
        open_run, served, phone, tmp_path):
    truth, page = truth_of(open_run), ReviewPage(phone)
    page.sign_in(served.url, "eli")
    key = page.task_shown()
    width = phone.execute_script("return document.documentElement.clientWidth")
    assert width == PHONE["width"]
    assert phone.execute_script("return document.documentElement.scrollWidth") <= width  # no sideways scrolling
    buttons = phone.find_elements(By.CSS_SELECTOR, "#labels button, #none, #skip")
    assert len(buttons) == 12
    for button in buttons:
        box = button.rect
        assert box["x"] >= 0 and box["x"] + box["width"] <= width and box["height"] >= 40
    image = phone.find_element(By.ID, "image").rect
    assert image["width"] >= 0.8 * width  # the image, large, above the labels
    assert image["y"] < buttons[0].rect["y"]
    assert not [k for k in phone.find_elements(By.CSS_SELECTOR, "kbd, .hint") if k.is_displayed()]  # no key hints

    def tap(element) -> None:
        actions = ActionBuilder(phone, mouse=PointerInput(interaction.POINTER_TOUCH, "finger"))
        actions.pointer_action.move_to(element).pointer_down().pointer_up()
        actions.perform()

    def answer_low_on_the_page(key: str, label: str) -> str:
        phone.execute_script("window.scrollTo(0, document.documentElement.scrollHeight)")  # down to the labels
        assert phone.execute_script("return document.getElementById('image').getBoundingClientRect().top") < 0
        return page.after(key, lambda: tap(page.label_button(label)))

    def in_view(label: str) -> None:
        """The new task's image in full view, the tapped button not highlighted, the status in view."""
        image, status, height = phone.execute_script(
            "return [document.getElementById('image').getBoundingClientRect().toJSON(),"
            " document.getElementById('status').getBoundingClientRect().toJSON(), innerHeight]")
        assert 0 <= image["top"] and image["bottom"] <= status["top"] <= status["bottom"] <= height
        assert page.focus() == "BODY"
        look = phone.execute_script("const s = getComputedStyle(arguments[0]); return [s.borderColor, s.boxShadow]",
                                    page.label_button(label))
        assert look == ["rgb(215, 220, 226)", "none"]  # as any other button

    labelled = {}
    labelled[key] = label = label_of(truth, key)
    key = answer_low_on_the_page(key, label)  # the default window: 5 s
    in_view(label)
    screenshot(phone, tmp_path, "review-page-phone.png")

    page.undo_seconds(LONG_WINDOW)
    held = key
    label = label_of(truth, key)
    key = answer_low_on_the_page(key, other_than(label))
    in_view(other_than(label))
    tap(phone.find_element(By.CSS_SELECTOR, "#status li.held button"))  # Undo
    page.wait.until(lambda _: page.current_key() == held)
    page.task_shown()
    in_view(other_than(label))
    page.undo_seconds(0.5)
    labelled[held] = label
    assert answer_low_on_the_page(held, label) == key
    in_view(label)
    page.wait.until(lambda _: served.answers_of("eli") == 2)
    served.stop()

    assert_accepted_once(open_run, "eli", labelled)
