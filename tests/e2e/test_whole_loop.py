"""The whole loop of the product, keys only, in a real terminal (tmux): domain brief -> topics ->
pairs -> curation -> export -> a 4-job sweep watched to completion with an overfitting flag ->
deploy the best job and the base model -> compare and read the judge's score -> blind votes ->
playground with the round timer -> ctrl+q exits 0 and leaves no listening port or child process.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.tmux_session import TmuxApp, child_pids, listening_ports, process_alive, require_tmux

CATEGORIES, SUBTOPICS, PER_TOPIC = 4, 4, 10  # 16 leaf topics, 160 pairs: enough rows for the fits to differ
# The fast demo (tests/e2e/tmux_session.py), with the generator asked for 10 questions a topic and both
# LLM profiles allowed more calls a minute than the 200-odd the loop makes, so no rate limiter slows it.
LOOP_CONFIG = f"""\
[generation]
questions_per_topic = {PER_TOPIC}
refusal_share = 0.0

[llm.generator]
rpm = 20000
tpm = 50000000

[llm.judge]
rpm = 20000
tpm = 50000000

[demo]
epoch_seconds = 1.0
endpoint_seconds = 1.0
"""
# On about 130 training rows (the demo trainer's loss model): epoch=2 at 3e-4 fits best and does not
# overfit; six epochs overfit at either rate; epoch=2 at 1e-4 underfits.
EPOCHS, RATES = "2,6", "0.0003,0.0001"
PROMPT_WORDS = ("Name", "Description", "Team", "Knows", "Aspects", "Domain", "Brief", "Subtopics", "Categories")


@pytest.fixture
def app(tmp_path):
    require_tmux()
    running = TmuxApp.start(tmp_path / "loop", config_text=LOOP_CONFIG)
    yield running
    running.close()


def _count(pattern: str, screen: str) -> int:
    return len(re.findall(pattern, screen))


def _topic_names(screen: str) -> list[str]:
    """The topic names the tree shows (each line "├─ ▶ Name  0 q · 0 ok"), the root left out."""
    tree = screen.split("All topics", 1)[1] if "All topics" in screen else ""
    return [found.group(1) for found in re.finditer(r"[├└]─+ (?:[▶▼] )?(\S.*?)  \d+ q · \d+ ok", tree)]


def read_topic_names(app: TmuxApp, step: str) -> list[str]:
    """Open every category (space on each, from the top), read all the names, then back up to the root."""
    app.keys("Down")  # the first category
    for opened in range(1, CATEGORIES + 1):
        app.keys("space")
        app.wait_until(
            lambda s, n=opened: len(_topic_names(s)) >= CATEGORIES + n * SUBTOPICS,
            step=step,
            what=f"{opened} categories open",
        )
        app.keys(*["Down"] * (SUBTOPICS + 1), pause=0.05)
    names = _topic_names(app.screen())
    app.keys(*["Up"] * (len(names) + 2), pause=0.05)  # the root again: g generates for the whole tree
    return names


def brief_to_topics(app: TmuxApp) -> int:
    step = "brief -> topics"
    app.wait_for("All topics  0 q", timeout=40, step=step)
    app.keys("b")
    app.wait_for("Domain brief: who asks", step=step)
    app.type("Households asking their electricity supplier about bills, meters and tariffs.")
    app.wait_for("▊ Households asking their electricity supplier", step=step)
    app.focus_next(2)  # aspects, then categories
    app.keys("End", "C-u")  # emptied
    app.type(str(CATEGORIES))
    app.wait_for(re.compile(rf"categories ▊  {CATEGORIES} "), step=step)
    app.focus_next()
    app.keys("End", "C-u")
    app.type(str(SUBTOPICS))
    app.wait_for(re.compile(rf"categories ▊  {CATEGORIES} .*subtopics each ▊  {SUBTOPICS} "), step=step)
    app.keys("C-j")
    app.wait_for("topic tree: done", timeout=30, step=step)
    leaves = int(app.wait_for(re.compile(r"Topics \((\d+) leaf topics\)"), step=step).group(1))
    assert leaves == CATEGORIES * SUBTOPICS, app.screen()
    names = read_topic_names(app, step)
    assert len(names) == CATEGORIES * (1 + SUBTOPICS), names
    tree = "\n".join(names)
    for word in PROMPT_WORDS:  # words of tunedeck's own prompts, not of the brief
        assert not re.search(rf"\b{word}\b", tree), names
    assert not re.search(r"\bpart \d", tree), names  # what the emulator would call a topic once out of ideas
    assert re.search(r"(?i)\b(bills|meters|tariffs|electricity supplier)\b", tree), names  # the brief's
    print("topics:", "; ".join(names))
    return leaves


def generate_pairs(app: TmuxApp, leaves: int, per_topic: int = PER_TOPIC) -> int:
    step = "generate pairs"
    app.keys("g")  # the cursor is on the root: the whole tree
    match = app.wait_for(
        re.compile(r"generate: done · \d+ tasks · 0 failed · \$[\d.]+ · (\d+) new pairs"), timeout=90, step=step
    )
    pairs = int(match.group(1))
    assert pairs == per_topic * leaves  # questions_per_topic in the test config, no refusals
    app.wait_for(re.compile(rf"All topics  {pairs} q · 0 ok"), step=step)
    return pairs


def curate_and_export(app: TmuxApp, pairs: int) -> None:
    step = "curation"
    app.keys("2")
    app.wait_for(f"Pairs ({pairs})", step=step)
    app.wait_for(f"{pairs} pending  0 accepted  0 rejected", step=step)
    app.keys("c")
    app.wait_for_toast(
        re.compile(rf"Curated {pairs} pairs: \d+ flagged, \d+ duplicate clusters"), timeout=30, step=step
    )
    app.keys("x")  # reject the first pair; the cursor moves on
    app.wait_for(f"{pairs - 1} pending  0 accepted  1 rejected", step=step)
    app.keys("a")  # accept the second
    app.wait_for(f"{pairs - 2} pending  1 accepted  1 rejected", step=step)
    app.keys("s")  # status filter: pending
    app.wait_for("status=pending", step=step)
    app.keys("A")
    app.wait_for(f"Accept all {pairs - 2} pairs in the current filter", step=step)
    app.keys("y")
    app.wait_for(f"0 pending  {pairs - 1} accepted  1 rejected", step=step)

    step = "dataset export"
    app.keys("E")
    app.wait_for("Export a dataset version", step=step)
    app.keys("Enter")  # instruction format
    app.answer_flagged_export(include=True, step=step)
    exported = app.wait_for_toast(
        re.compile(
            r"Exported dataset [0-9a-f]{16} \(instruction\): (\d+) train, (\d+) "
            r"validation -> s3://tunedeck-demo-"
        ),
        timeout=30,
        step=step,
    )
    # every pair but the rejected one, split into train and validation (20%)
    assert int(exported.group(1)) + int(exported.group(2)) == pairs - 1, exported.group(0)


def tab_past_text_fields(app: TmuxApp, step: str, most: int = 20) -> None:
    """Tab down the form until the focus leaves its text fields: the terminal cursor follows a focused text
    field and stays put when a checkbox takes the focus."""
    for _ in range(most):
        before = app.cursor()
        app.keys("Tab")
        deadline = time.monotonic() + 1.0
        while app.cursor() == before and time.monotonic() < deadline:
            time.sleep(0.05)
        if app.cursor() == before:
            return
    app.fail(f"the focus never left the text fields after {most} tabs", step)


def sweep_and_watch(app: TmuxApp) -> dict[str, str]:
    step = "sweep"
    app.keys("3")
    app.wait_for("Jobs (0 running, 0 queued)", step=step)
    app.keys("n")
    app.wait_for("│ New sweep", step=step)  # the dialog (the footer says "n New sweep")
    app.wait_for("default 8", timeout=30, step=step)  # the JumpStart recipe's defaults are loaded
    app.type(EPOCHS)  # epoch
    app.focus_next()
    app.type(RATES)  # learning_rate
    app.wait_for(re.compile(rf"epoch\s+{re.escape(EPOCHS)}\s"), step=step)
    app.wait_for(re.compile(rf"learning_rate\s+{re.escape(RATES)}\s"), step=step)
    app.wait_for(re.compile(r"4 job\(s\) · ~\S+ wall clock · estimated \$[\d.]+"), timeout=30, step=step)
    tab_past_text_fields(app, step)  # to "I accept the EULA", however many fields the form has
    app.keys("space")
    app.keys("C-j")
    app.wait_for("Launch 4 training job(s)", step=step)  # the cost is asked about first
    app.keys("y")

    step = "watch the sweep"
    app.wait_for(re.compile(r"4 job\(s\) · \d+ running · \d+ queued"), timeout=20, step=step)
    app.wait_for("· 4 completed ·", timeout=120, step=step)
    screen = app.wait_for(re.compile(r"4 completed · (\d) overfitting"), timeout=20, step=step).string
    rows = [line for line in screen.splitlines() if re.search(r"\b00\d\s+Completed", line)]
    assert len(rows) == 4, screen
    flagged = [row for row in rows if "⚠ rerun with" in row]
    assert flagged, screen
    assert all("ep=6" in row for row in flagged), screen  # two epochs do not overfit this data; six do
    assert any("ep=2" in row and "⚠" not in row for row in rows), screen
    assert re.search(r"⚠ rerun with epoch=\d", "\n".join(flagged)), screen
    for row in rows:
        assert re.search(r"\be\d+ (\d+\.\d+)\s", row), row  # the best eval loss and its epoch
    return {row.split()[1]: row for row in rows}  # job number -> its row


def deploy_best_and_base(app: TmuxApp, jobs: dict[str, str]) -> str:
    step = "deploy the best job"
    app.keys("4")
    app.wait_for("a/b targets  s set  r run", step=step)
    app.keys("E")
    app.wait_for("Endpoints of this session", step=step)
    app.wait_for("no endpoints: f deploys a finished job", timeout=20, step=step)
    app.keys("f")
    app.wait_for("Deploy which finished job? (lowest eval loss of the saved, last", step=step)
    screen = app.wait_for("(best)", step=step).string
    listed = screen[screen.index("Deploy which finished job?") :]
    listed_jobs = re.findall(r"(td-demo-[0-9a-f]+-(\d{3}))", listed)
    assert sorted(number for _, number in listed_jobs) == sorted(jobs), listed  # the Jobs pane's jobs
    best_job, number = listed_jobs[0]
    assert listed.index("(best)") < listed.index(listed_jobs[1][0]), listed  # the first choice is marked best
    assert "ep=2" in jobs[number] and "⚠" not in jobs[number], (jobs[number], listed)  # the good fit, not flagged
    app.keys("Enter")  # the first choice: the lowest eval loss of the model a job saved (its last epoch)
    app.wait_for(re.compile(rf"deploy job {best_job} as endpoint"), step=step)
    app.wait_for("Deploy it?", step=step)
    app.keys("y")
    app.wait_for(re.compile(rf"{best_job}-\S+\s+finetuned .* InService"), timeout=30, step=step)

    step = "deploy the base model"
    app.keys("m")
    app.wait_for("deploy base model meta-textgeneration-llama-3-2-3b", timeout=20, step=step)
    app.keys("y")
    app.wait_for("Type 'accept'", step=step)
    app.type("accept")
    app.keys("Enter")
    app.wait_until(lambda s: _count(r"\bInService\b", s) == 2, timeout=30, step=step, what="two endpoints InService")

    step = "choose targets"
    screen = app.screen()
    finetuned_first = re.search(r"\sfinetuned\s", screen).start() < re.search(r"\sbase\s+meta-", screen).start()
    app.keys(*(["a"] if finetuned_first else ["Down", "a"]))
    app.wait_for(re.compile(rf"A endpoint:{best_job}-"), step=step)
    app.keys("E")
    app.wait_until(lambda s: _count(r"\bInService\b", s) == 2, step=step, what="the endpoint list")
    app.keys(*(["Down", "b"] if finetuned_first else ["b"]))
    app.wait_for(re.compile(r"B endpoint:llama-3-2-3b-base-"), step=step)
    return best_job


def compare_with_base(app: TmuxApp) -> int:
    step = "held-out set"
    app.keys("s")
    app.wait_for("+ generate a new set from the topic tree", step=step)
    app.keys("Down", "Enter")
    app.wait_for("Name of the new generated question set", step=step)
    app.keys("Enter")  # heldout-1
    app.wait_for("Questions per leaf topic", step=step)
    app.type("2")
    app.keys("Enter")
    questions = int(app.wait_for(re.compile(r"set heldout-1 \((\d+) questions\)"), timeout=30, step=step).group(1))
    assert questions >= 12  # new questions: few equal or nearly duplicate a training question or each other

    step = "compare and read the judge score"
    app.keys("r")
    app.wait_for("evaluate: done", timeout=60, step=step)
    app.wait_for("evaluation #1 done", step=step)  # the pane has re-read the finished evaluation
    score = app.wait_for(
        re.compile(r"Score (\d+) / (\d+) \((\d+)%–(\d+)%\)   wins (\d+) · ties (\d+) · losses (\d+)"), step=step
    )
    k, n, low, high, wins, ties, losses = map(int, score.groups())
    assert n == questions and wins + ties + losses == n and 0 <= k <= n, score.group(0)
    assert 0 <= low <= high <= 100, score.group(0)
    print(f"best job against the base model: {score.group(0)}")
    assert wins > losses, score.group(0)  # the best job answers from its training; the base model generically
    app.wait_for(re.compile(r"strict [\d.]+% · lenient [\d.]+% · position consistency [\d.]+%"), step=step)
    app.wait_for(re.compile(rf"Question 1 / {n}  topic "), step=step)
    app.wait_for(re.compile(r"A · endpoint:td-demo-\S+\s+[\d,]+ chars"), step=step)  # the answers, side by side
    return questions


def blind_votes(app: TmuxApp, questions: int) -> None:
    step = "blind votes"
    app.keys("v")
    app.wait_for("Blind vote: your name", step=step)
    app.type("tester")
    app.keys("Enter")
    app.wait_for(f"Blind vote  voter tester  ·  question 1 / {questions}  ·  0 voted", step=step)
    assert "endpoint:" not in app.screen().split("Blind voting", 1)[1]  # names hidden while voting
    votes = ["a", "d", "t", "x"]
    for index in range(questions):
        app.keys(votes[index % len(votes)])
        app.wait_for(f"{index + 1} voted", step=step)
    app.wait_for(f"all {questions} questions voted", step=step)
    app.keys("Escape", "h")
    app.wait_for(f"Blind votes {questions} by 1 voter (tester)", step=step)
    app.wait_for(re.compile(r"Judge–human agreement raw [\d.]+%"), step=step)


def playground_round(app: TmuxApp, best_job: str) -> None:
    step = "playground"
    app.keys("5")
    app.wait_for("round: 1:00 · enter a question to start the clock", step=step)
    app.wait_for(re.compile(rf"unsaved prompt · endpoint:{best_job}-"), step=step)  # the fine-tuned model
    app.focus_next(key="F2", timeout=1)  # the system prompt (it may have the focus already)
    app.type("You are a concise, friendly energy advisor.")
    app.wait_for("▊ You are a concise, friendly energy advisor.", step=step)
    app.focus_next(key="F3")  # the question
    app.type("How do I read my electricity meter?")
    app.keys("Enter")  # starts the round clock
    first = int(app.wait_for(re.compile(r"round: 0:(\d\d) left"), step=step).group(1))
    app.keys("C-j")
    # the fine-tuned answer runs on, as its training answers do: the event's 200-token cap may cut it
    app.wait_for(re.compile(r"(?:done|cut at the 200-token cap) · \d+ words · \d+ chars"), timeout=30, step=step)
    time.sleep(1.5)
    later = int(app.wait_for(re.compile(r"round: 0:(\d\d) left"), step=step).group(1))
    assert later < first, (first, later)  # the clock runs
    app.pick_first_answer(step)
    app.keys("C-t")
    app.wait_for(re.compile(r"round: handed in with 0:\d\d left"), step=step)
    app.wait_for("handed in #1 in time", step=step)


def quit_cleanly(app: TmuxApp) -> None:
    pid = app.pid
    assert pid is not None and process_alive(pid)
    ports = listening_ports(pid)
    children = child_pids(pid)
    assert len(ports) >= 2, ports  # the emulated AWS and LLM services, on 127.0.0.1
    app.keys("C-q")
    app.wait_for("Still billing", step="quit")  # the two endpoints are still in service: quit anyway
    app.keys("q")
    started = time.monotonic()
    status = app.wait_exit(timeout=30)
    print(f"ctrl+q -> exit {status} in {time.monotonic() - started:.1f}s")
    assert status == 0
    assert not process_alive(pid)
    assert not [c for c in children if process_alive(c)], children
    assert not ports & listening_ports(), ports & listening_ports()


@pytest.mark.timeout(300)
def test_whole_loop_keys_only(app):
    leaves = brief_to_topics(app)
    pairs = generate_pairs(app, leaves)
    curate_and_export(app, pairs)
    jobs = sweep_and_watch(app)
    best_job = deploy_best_and_base(app, jobs)
    questions = compare_with_base(app)
    blind_votes(app, questions)
    playground_round(app, best_job)
    quit_cleanly(app)


def test_alt_digit_leaves_a_text_field_in_a_real_terminal(app):
    """A terminal sends alt+1 as ESC 1; Textual alone reads that as '¡' (tui/keys.py)."""
    app.wait_for("All topics  0 q", timeout=40)
    app.keys("5")
    app.wait_for("enter a question to start the clock")  # the system prompt (a text field) has the focus
    app.keys("M-1")
    app.wait_for("Topics (", timeout=5, step="alt+1 from the system prompt")
