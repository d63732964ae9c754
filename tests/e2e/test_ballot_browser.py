"""The blind ballot in a real headless browser (Debian's chromium, driven by Selenium through
chromium-driver): `tunedeck ballot export` writes the page, two voters vote with clicks, the page
produces their result files, `tunedeck ballot import` tallies them and reports the kappa against the
LLM judge. An answer carrying <script> and <img onerror> is shown as text and runs nothing."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING

import pytest

from core.playground.rounds import Params, save_version
from core.sessions import open_session
from tests.test_league_cli import tunedeck

if TYPE_CHECKING:
    from pathlib import Path

HOSTILE = 'Try <script>window.pwned = "script"</script> and <img src=x onerror="window.pwned = \'img\'"> now.'


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or shutil.which("chromium-driver")
    if not browser or not driver:
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them when it can)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("the selenium package is not installed (pip install -e '.[dev]')")
    return browser, driver


@pytest.fixture
def browser():
    binary, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def _session_with_finalists() -> None:
    store = open_session("event")
    concise = save_version(store, "concise", "Answer in two sentences.", Params(0.3, 0.9, 200))
    warm = save_version(store, "empathetic", "Answer warmly.", Params(0.7, 0.9, 200))
    answers = {
        "How do I reset my router?": {concise: ("Hold reset for ten seconds.", 1.0), warm: (HOSTILE, 0.0)},
        "Is it safe to update firmware?": {concise: ("Yes.", 0.0), warm: ("Yes, and here is why.", 1.0)},
    }
    for question, by_version in answers.items():
        for version, (text, score) in by_version.items():
            run_id, (sample_id,) = store.create_run(
                target="openai:demo",
                system_prompt=version.system_prompt,
                temperature=version.temperature,
                top_p=version.top_p,
                max_tokens=version.max_tokens,
                question=question,
                samples=1,
                prompt_version_id=version.id,
            )
            store.finish_sample(sample_id, text, finish_reason="stop")
            store.set_sample_judgement(sample_id, score, "judge")
    store.close()


def _vote(driver, page: Path, role: str, picks: dict[str, str]) -> str:
    from selenium.webdriver.common.by import By

    driver.get(page.as_uri())
    driver.find_element(By.ID, f"role-{role}").click()
    for answer_id in picks.values():
        driver.find_element(By.ID, f"pick-{answer_id}").click()
    driver.find_element(By.ID, "produce").click()
    assert driver.find_element(By.ID, "download").is_displayed()
    return driver.find_element(By.ID, "result").get_attribute("value")


def test_ballot_page_votes_produce_results_that_import_with_kappa(tmp_path, browser):
    from selenium.webdriver.common.by import By

    _session_with_finalists()
    page = tmp_path / "final.html"
    exported = tunedeck("ballot", "export", str(page), "--seed", "3")
    assert exported.returncode == 0, exported.stderr
    key = json.loads((tmp_path / "final.key.json").read_text())
    html = page.read_text()
    assert "<script>window" not in html and "http" not in html.split("<body>")[1]  # nothing loaded from elsewhere

    browser.get(page.as_uri())
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.find_elements(By.TAG_NAME, "img") == []
    shown = browser.find_element(By.TAG_NAME, "main").text
    assert HOSTILE in shown  # the markup is there as text
    browser.find_element(By.ID, "produce").click()
    assert "judge or as the audience" in browser.find_element(By.ID, "message").text

    top = {qid: next(a for a, v in q["answers"].items() if v["judge_rank"] == 1) for qid, q in key["questions"].items()}
    other = {qid: next(a for a in q["answers"] if a != top[qid]) for qid, q in key["questions"].items()}
    judge_picks = dict(top)
    audience_picks = {"q1": top["q1"], "q2": other["q2"]}
    results = []
    for n, (role, picks) in enumerate((("judge", judge_picks), ("audience", audience_picks))):
        text = _vote(browser, page, role, picks)
        assert json.loads(text)["picks"] == picks
        results.append(tmp_path / f"vote-{n}.json")
        results[-1].write_text(text)
    assert browser.execute_script("return window.pwned === undefined")

    imported = tunedeck("ballot", "import", "--key", str(tmp_path / "final.key.json"), *map(str, results))
    assert imported.returncode == 0, imported.stderr
    assert "2 voter(s)" in imported.stdout and "kappa vs LLM judge 0.50" in imported.stdout
