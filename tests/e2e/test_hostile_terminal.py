"""Hostile input through a real terminal: every pane fed the hostile set (markup, [@click=...] actions,
[link=...], [$var] tags, ANSI CSI and OSC escapes, a lone CR, a 5000-character line, an RTL override,
emoji, NUL), from the LLM emulator's "hostile" fault (TUNEDECK_DEMO_FAULTS, which also poisons the
emulated endpoints' answers) and from imported files (topic tree JSON, held-out question sets).

Every byte the app writes to its terminal is captured (tmux pipe-pane). The app must stay up, show the
text literally, and let none of the payload's escape sequences or control characters reach the terminal.
"""

from __future__ import annotations

import json
import re

import pytest

from core.sandbox.llm.faults import HOSTILE_TEXT
from tests.e2e.tmux_session import FAST_DEMO_CONFIG, TmuxApp, require_tmux

HOSTILE_FAULTS = json.dumps([{"kind": "hostile", "probability": 1.0}])  # every reply, until the app quits
FIRST_LINE = HOSTILE_TEXT.split("\n", 1)[0]
CLICK = "[@click=app.quit]click me[/]"
LINK = "[link=https://example.invalid]x[/link]"
VAR = "[$accent]accent[/] styling."
# What the hostile text carries that must never reach the terminal as it is.
FORBIDDEN = {
    "OSC title": b"\x1b]0;pwned",
    "clear screen": b"\x1b[2J",
    "NUL": b"\x00",
    "RTL override": "\u202e".encode(),
    "lone CR": b"progress 10%\r",
}


@pytest.fixture
def app(tmp_path):
    require_tmux()
    running = TmuxApp.start(
        tmp_path / "hostile", config_text=FAST_DEMO_CONFIG, env={"TUNEDECK_DEMO_FAULTS": HOSTILE_FAULTS}, record=True
    )
    yield running
    running.close()


@pytest.fixture
def files(tmp_path):
    """Hostile imports: a topic tree (control characters as JSON escapes) and question sets."""
    topics = tmp_path / "topics.json"
    topics.write_text(
        json.dumps(
            {
                "topics": [
                    {
                        "name": "Imported " + FIRST_LINE,
                        "children": [{"name": "child \x1b]0;pwned\x07 [@click=app.quit]x \u202eevil"}],
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    with_nul = tmp_path / "with_nul.jsonl"
    with_nul.write_text(json.dumps({"question": "Q1 " + HOSTILE_TEXT}) + "\n", encoding="utf-8")
    heldout = tmp_path / "heldout.jsonl"
    heldout.write_text(
        json.dumps({"question": "Q1 " + HOSTILE_TEXT.replace("\x00", ""), "topic": "[@click=app.quit]topic"})
        + "\n"
        + json.dumps({"question": "Q2 how do I read my meter?"})
        + "\n",
        encoding="utf-8",
    )
    return {"topics": topics, "with_nul": with_nul, "heldout": heldout}


def _literal(app: TmuxApp, *texts: str, step: str) -> None:
    for text in texts:
        app.wait_for(text, step=step)


def topics_pane(app: TmuxApp, files) -> None:
    step = "topics: brief from a hostile LLM"
    app.wait_for("All topics  0 q", timeout=40, step=step)
    app.keys("b")
    app.wait_for("Domain brief: who asks", step=step)
    app.type("Energy bills.")
    app.wait_for("▊ Energy bills.", step=step)
    app.focus_next(2)
    app.keys("End", "C-u")
    app.type("1")
    app.wait_for(re.compile(r"categories ▊  1 "), step=step)
    app.focus_next()
    app.keys("End", "C-u")
    app.type("2")
    app.wait_for(re.compile(r"subtopics each ▊  2 "), step=step)
    app.keys("C-j")
    app.wait_for("topic tree: done", timeout=30, step=step)
    _literal(app, "─ ▶ Sure [/] here you go " + CLICK, step=step)

    step = "topics: generate pairs"
    app.keys("g")  # the cursor is on the root: the whole tree
    app.wait_for(re.compile(r"generate: done · \d+ tasks · 0 failed"), timeout=60, step=step)

    step = "topics: hostile JSON import"
    app.keys("i")
    app.wait_for("Import a topic tree from a JSON file", step=step)
    app.type(str(files["topics"]))
    app.keys("Enter")
    app.wait_for_toast("Imported 2 topics", step=step)
    _literal(app, "└─ ▶ Imported Sure [/] here you go " + CLICK, step=step)
    app.keys("Down", "Down", "space")  # open the imported branch: its child's OSC title and RTL override are gone
    _literal(app, "└─ child [@click=app.quit]x evil", step=step)


def pairs_pane(app: TmuxApp) -> None:
    step = "pairs: hostile questions and answers"
    app.keys("2")
    app.wait_for(re.compile(r"Pairs \([1-9]\d*\)"), step=step)
    # the detail view: markup as text, CR made a line break, RTL letters kept, emoji, the long line wrapped
    _literal(
        app,
        "Question",
        LINK,
        VAR,
        "progress 10%",
        "progress 99%",
        "NULbyte",
        "evil.exe שלום مرحبا",
        "\U0001f916",
        "W" * 50,
        step=step,
    )
    app.keys("c")
    app.wait_for_toast(re.compile(r"Curated \d+ pairs"), timeout=30, step=step)
    app.keys("e")
    app.wait_for("Edit pair #", step=step)
    _literal(app, "▊ Sure [/] here you go " + CLICK, step=step)
    app.keys("Escape")
    app.wait_until(lambda s: "Edit pair #" not in s, step=step, what="the editor closed")
    app.keys("E")
    app.wait_for("Export a dataset version", step=step)
    app.keys("Enter")
    app.answer_flagged_export(include=True, step=step)  # every hostile row carries a flag
    app.wait_for_toast(re.compile(r"Exported dataset [0-9a-f]{16}"), timeout=30, step=step)


def jobs_pane(app: TmuxApp) -> None:
    step = "jobs: markup typed into the sweep builder"
    app.keys("3")
    app.wait_for("Jobs (0 running, 0 queued)", step=step)
    app.keys("n")
    app.wait_for("│ New sweep", step=step)  # the dialog (the footer says "n New sweep")
    app.wait_for("default 8", timeout=30, step=step)  # the recipe is loaded, the epoch field has the focus
    app.type("[@click=app.quit]x[/]")
    app.wait_for("epoch: must be a whole number, got '[@click=app.quit]x[/]'", timeout=30, step=step)
    app.keys("Escape")
    app.wait_until(lambda s: "│ New sweep" not in s, step=step, what="the sweep builder closed")


def compare_pane(app: TmuxApp, files) -> None:
    step = "compare: an import with a NUL is refused whole"
    app.keys("4")
    app.wait_for("a/b targets  s set  r run", step=step)
    app.keys("s")
    app.wait_for("+ import a CSV or JSONL file as a new set", step=step)
    app.keys("Enter")
    app.wait_for("Import held-out questions", step=step)
    app.type(str(files["with_nul"]))
    app.keys("Enter")
    app.wait_for("Name of the new question set", step=step)
    app.keys("Enter")
    app.wait_for("import failed: nothing imported:", step=step)  # the pane's status line
    app.wait_for("with_nul.jsonl:1: the question contains a NUL character", step=step)

    step = "compare: hostile held-out questions"
    app.keys("s")
    app.wait_for("+ import a CSV or JSONL file as a new set", step=step)
    app.keys("Enter")
    app.wait_for("Import held-out questions", step=step)
    app.type(str(files["heldout"]))
    app.keys("Enter")
    app.wait_for("Name of the new question set", step=step)
    app.keys("Enter")
    app.wait_for("set heldout (2 questions)", step=step)

    step = "compare: a hostile endpoint as B"
    app.keys("E")
    app.wait_for("no endpoints: f deploys a finished job", timeout=20, step=step)
    app.keys("m")
    app.wait_for("Deploy it?", timeout=20, step=step)
    app.keys("y")
    app.wait_for("Type 'accept'", step=step)
    app.type("accept")
    app.keys("Enter")
    app.wait_for(re.compile(r"base\s+meta-textgeneration-llama-3-2-3b\s+InService"), timeout=30, step=step)
    app.keys("b")
    app.wait_for(re.compile(r"B endpoint:llama-3-2-3b-base-"), step=step)
    app.keys("a")
    app.wait_for("Target A (the candidate", step=step)
    app.wait_for("openai:gpt-4o-mini (generator profile)", step=step)
    app.keys("Down", "Enter")  # below the endpoint: the generator profile (the emulator with the hostile fault)
    app.wait_for("A openai:gpt-4o-mini", step=step)

    step = "compare: hostile answers and judge reasons"
    app.keys("r")
    app.wait_for("evaluate: done", timeout=60, step=step)
    app.wait_for("evaluation #1 done", step=step)  # the pane has re-read the finished evaluation
    _literal(
        app,
        "topic [@click=app.quit]topic",
        "Q1 Sure [/] here you go " + CLICK,
        "A shown first: ",
        "A · openai:gpt-4o-mini",
        "B · endpoint:llama-3-2-3b-base-",
        step=step,
    )
    screen = app.screen()
    answers = screen[screen.index("A · openai:gpt-4o-mini") :]
    assert answers.count("Sure [/] here you go " + CLICK) >= 2, screen  # both sides: the LLM and the endpoint
    reasons = screen[screen.index("A shown first: ") : screen.index("A · openai:gpt-4o-mini")]
    assert "Sure [/] here you go" in reasons, screen  # the judge's reason, literally


def playground_pane(app: TmuxApp) -> None:
    step = "playground: hostile samples"
    app.keys("5")
    app.wait_for("enter a question to start the clock", step=step)
    app.focus_next(key="F2", timeout=1)
    app.type("[@click=app.quit]sys[/] [$accent]")  # markup typed into the system prompt stays text
    app.focus_next(key="F3")
    app.type("meter?")
    app.keys("Enter", "C-j")
    app.wait_for(re.compile(r"done · \d+ words · \d+ chars"), timeout=30, step=step)
    _literal(app, "▊ [@click=app.quit]sys[/] [$accent]", "│ Sure [/] here you go " + CLICK, step=step)
    app.pick_first_answer(step)
    app.keys("C-t")
    app.wait_for("handed in #1", step=step)


@pytest.mark.timeout(180)
def test_hostile_text_is_literal_and_no_escape_reaches_the_terminal(app, files):
    topics_pane(app, files)
    pairs_pane(app)
    jobs_pane(app)
    compare_pane(app, files)
    playground_pane(app)

    step = "still up"
    app.focus_next()  # out of the question field
    app.keys("1")
    app.wait_for("Topics (", step=step)
    app.wait_for("All topics", step=step)

    output = app.pty_bytes()
    assert len(output) > 100_000  # the whole session was recorded
    assert b"[@click=app.quit]click me[/]" in output and "שלום".encode() in output  # shown, as text
    leaked = {name: output.count(payload) for name, payload in FORBIDDEN.items() if payload in output}
    assert not leaked, leaked

    app.quit_past_live_resources()  # the hostile endpoint may still be in service
    assert app.wait_exit(timeout=30) == 0


def test_demo_faults_variable_schedules_rules_or_names_itself_when_malformed():
    """The mechanism the sweep above relies on (no terminal needed): TUNEDECK_DEMO_FAULTS."""
    from types import SimpleNamespace

    from core.sandbox.demo import DEMO_FAULTS_ENV, schedule_demo_faults
    from core.sandbox.llm.faults import FaultInjector

    llm, aws = SimpleNamespace(faults=FaultInjector()), SimpleNamespace(reply_fn=None)
    assert schedule_demo_faults(aws, llm, env={}) == 0 and aws.reply_fn is None
    assert schedule_demo_faults(aws, llm, env={DEMO_FAULTS_ENV: HOSTILE_FAULTS}) == 1
    poisoned = aws.reply_fn([{"role": "user", "content": "How do I read my meter?"}], temperature=0.0)
    assert poisoned.startswith(HOSTILE_TEXT)  # the endpoints answer with the hostile set too
    for bad in ('[{"kind": "hostile"', '[{"kind": "gremlins"}]'):
        with pytest.raises(ValueError, match=DEMO_FAULTS_ENV):
            schedule_demo_faults(aws, llm, env={DEMO_FAULTS_ENV: bad})
