"""A blind ballot for people away from the keyboard.

    ballot, key = build_ballot(store, questions=5)       # shuffled, anonymised answers per question
    write_ballot(ballot, key, Path("final.html"))         # final.html + final.key.json (the key stays here)
    tally = import_results(store, key, [Path("vote-1.json"), ...], rules)

The HTML file is self-contained (no server, nothing loaded from elsewhere, works offline). A voter
says whether they vote as a judge or as the audience, picks the best answer of each question, and
the page produces a small result file to download or copy. Answers are untrusted model output: the
page builds its DOM with textContent only, the data sits in a JSON block with every "<" escaped,
and a Content-Security-Policy allows the page's own script and style and nothing else.

The key file maps the anonymous answer ids to prompt versions and the LLM judge's ranks, so that
the import reports each version's human and audience preference, the combined score with the
round's weights (the last question counting double when the rules say so) and the agreement of
the voters' picks with the judge's top answer (Cohen's kappa).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.playground.final import TOP_POINTS, RoundRules, combined_score, rank_points
from core.playground.rounds import PlaygroundError

if TYPE_CHECKING:
    from core.store import Store
    from core.store.playground import RunRow, SampleRow

RESULT_FORMAT = "tunedeck-ballot-result/1"
KEY_FORMAT = "tunedeck-ballot-key/1"
RESULTS_META = "final.ballot_results"
ROLES = ("judge", "audience")
MAX_ANSWERS = 5


class BallotError(PlaygroundError):
    """A ballot cannot be written or a result file cannot be read; the message says why."""


# ---- building ------------------------------------------------------------------------------------


def _best_sample(samples: list[SampleRow]) -> SampleRow | None:
    ok = [s for s in samples if s.ok and s.text.strip()]
    if not ok:
        return None
    picked = [s for s in ok if s.picked]
    return picked[0] if picked else ok[0]


def _label(store: Store, run: RunRow) -> str:
    version = store.prompt_version(run.prompt_version_id) if run.prompt_version_id is not None else None
    return version.name if version is not None else run.target


def build_ballot(
    store: Store, *, questions: int = 10, seed: int | None = None, title: str = "Final rehearsal"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The newest questions that at least two prompt versions (or targets) answered, up to
    MAX_ANSWERS answers each, shuffled. Returns (ballot for the page, key kept by tunedeck)."""
    rng = random.Random(seed)
    runs = store.playground_runs()  # newest first
    samples = store.samples_for_runs([r.id for r in runs])
    by_question: dict[str, dict[str, tuple[SampleRow, RunRow]]] = {}
    for run in runs:
        best = _best_sample(samples.get(run.id, []))
        if best is None or not run.question.strip():
            continue
        answers = by_question.setdefault(run.question, {})
        label = _label(store, run)
        if label not in answers and len(answers) < MAX_ANSWERS:
            answers[label] = (best, run)
    chosen = [(q, a) for q, a in by_question.items() if len(a) >= 2][: max(1, questions)]
    if not chosen:
        raise BallotError("a ballot needs a question answered by at least two prompt versions: run finalists first")
    chosen.reverse()  # oldest first, so the last question is the newest
    ballot_id = secrets.token_hex(8)
    page_questions, key_questions = [], {}
    for qn, (question, answers) in enumerate(chosen, start=1):
        items = list(answers.items())
        rng.shuffle(items)
        scored = [(label, s.judge_score) for label, (s, _) in items if s.judge_score is not None]
        ranks = _ranks(scored) if len(scored) == len(items) else {}
        qid = f"q{qn}"
        page_answers, key_answers = [], {}
        for an, (label, (sample, _)) in enumerate(items, start=1):
            aid = f"{qid}a{an}"
            page_answers.append({"id": aid, "label": chr(ord("A") + an - 1), "text": sample.text})
            key_answers[aid] = {"version": label, "sample_id": sample.id, "judge_rank": ranks.get(label)}
        page_questions.append({"id": qid, "text": question, "answers": page_answers})
        key_questions[qid] = {"question": question, "answers": key_answers}
    ballot = {"ballot": ballot_id, "title": title, "questions": page_questions}
    key = {"format": KEY_FORMAT, "ballot": ballot_id, "created_at": time.time(), "questions": key_questions}
    return ballot, key


def _ranks(scored: list[tuple[str, float]]) -> dict[str, float]:
    """Ranks by descending judge score, ties sharing their average rank (1 = best)."""
    order = sorted(scored, key=lambda item: -item[1])
    ranks: dict[str, float] = {}
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and order[j + 1][1] == order[i][1]:
            j += 1
        for label, _ in order[i : j + 1]:
            ranks[label] = (i + j) / 2 + 1
        i = j + 1
    return ranks


# ---- the page ------------------------------------------------------------------------------------

_STYLE = """
body { font: 16px/1.45 system-ui, sans-serif; max-width: 50rem; margin: 1rem auto; padding: 0 1rem; }
fieldset { border: 1px solid #999; margin: 1rem 0; padding: .5rem 1rem; }
.answer { border: 1px solid #ccc; border-radius: 4px; margin: .5rem 0; padding: .5rem; }
.answer pre { white-space: pre-wrap; word-wrap: break-word; font: inherit; margin: .25rem 0 0; }
label.pick { font-weight: bold; cursor: pointer; }
textarea { width: 100%; height: 8rem; font-family: monospace; }
.error { color: #b00; }
""".strip()

_SCRIPT = """
"use strict";
const data = JSON.parse(document.getElementById("ballot-data").textContent);
const root = document.getElementById("ballot");
function el(tag, text) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  return node;
}
document.title = data.title;
root.appendChild(el("h1", data.title));
root.appendChild(el("p", "Read each question's answers (in a random order, without their authors) and pick " +
  "the one you like best. Then press \\"Produce my result\\" and send the file or the text to the organiser."));
const who = el("fieldset");
who.appendChild(el("legend", "I vote as"));
for (const role of ["judge", "audience"]) {
  const label = el("label");
  const input = el("input");
  input.type = "radio"; input.name = "role"; input.value = role; input.id = "role-" + role;
  label.appendChild(input);
  label.appendChild(document.createTextNode(" " + (role === "judge" ? "a judge" : "the audience") + " "));
  who.appendChild(label);
}
const name = el("input"); name.id = "voter"; name.placeholder = "your name (optional)"; name.maxLength = 60;
who.appendChild(name);
root.appendChild(who);
data.questions.forEach(function (q, n) {
  const set = el("fieldset"); set.id = q.id;
  set.appendChild(el("legend", "Question " + (n + 1) + " of " + data.questions.length));
  set.appendChild(el("p", q.text));
  for (const a of q.answers) {
    const box = el("div"); box.className = "answer";
    const label = el("label"); label.className = "pick";
    const input = el("input");
    input.type = "radio"; input.name = q.id; input.value = a.id; input.id = "pick-" + a.id;
    label.appendChild(input);
    label.appendChild(document.createTextNode(" Answer " + a.label));
    box.appendChild(label);
    box.appendChild(el("pre", a.text));
    set.appendChild(box);
  }
  root.appendChild(set);
});
const make = el("button", "Produce my result"); make.id = "produce"; make.type = "button";
const message = el("p"); message.id = "message";
const output = el("textarea"); output.id = "result"; output.readOnly = true;
const link = el("a", "Download the result file"); link.id = "download"; link.hidden = true;
for (const node of [make, message, output, el("br"), link]) root.appendChild(node);
make.addEventListener("click", function () {
  const role = document.querySelector("input[name=role]:checked");
  message.className = "error";
  if (!role) { message.textContent = "Say whether you vote as a judge or as the audience."; return; }
  const picks = {};
  const missing = [];
  data.questions.forEach(function (q, n) {
    const chosen = document.querySelector("input[name=" + q.id + "]:checked");
    if (chosen) picks[q.id] = chosen.value; else missing.push(n + 1);
  });
  if (missing.length) { message.textContent = "Pick an answer for question " + missing.join(", ") + "."; return; }
  const result = {
    format: "%FORMAT%", ballot: data.ballot, role: role.value, voter: name.value.slice(0, 60), picks: picks,
  };
  const text = JSON.stringify(result);
  output.value = text;
  message.className = "";
  message.textContent = "Done: download the file, or copy the text above.";
  link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  link.download = "ballot-" + data.ballot + "-" + role.value + "-" + Date.now() + ".json";
  link.hidden = false;
});
""".strip().replace("%FORMAT%", RESULT_FORMAT)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def ballot_html(ballot: dict[str, Any]) -> str:
    """The self-contained page. Every '<', '>' and '&' in the data is a JSON escape, so no answer can
    close the data block; the policy runs only the page's own script (by its hash)."""
    data = json.dumps(ballot, ensure_ascii=False)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    policy = (
        f"default-src 'none'; script-src {_sha256(_SCRIPT)}; style-src {_sha256(_STYLE)}; "
        "img-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>Ballot</title>\n"
        f'<style>{_STYLE}</style>\n</head>\n<body>\n<main id="ballot"></main>\n'
        f'<script type="application/json" id="ballot-data">{data}</script>\n'
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def key_path(html_path: Path) -> Path:
    return html_path.with_name(html_path.stem + ".key.json")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_ballot(ballot: dict[str, Any], key: dict[str, Any], path: Path) -> tuple[Path, Path]:
    """Write the page and, beside it, the key (which stays with the organiser)."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in (".html", ".htm"):
        raise BallotError(f"{path}: the ballot is an .html file")
    keyfile = key_path(path)
    _write(keyfile, json.dumps(key, indent=2, ensure_ascii=False) + "\n")
    _write(path, ballot_html(ballot))
    return path, keyfile


def read_key(path: Path) -> dict[str, Any]:
    try:
        key = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BallotError(f"{path}: cannot read the ballot key ({exc})") from None
    if not isinstance(key, dict) or key.get("format") != KEY_FORMAT or not isinstance(key.get("questions"), dict):
        raise BallotError(f"{path}: not a tunedeck ballot key")
    return key


# ---- importing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vote:
    source: str
    role: str
    voter: str
    picks: dict[str, str]  # question id -> answer id


def parse_result(text: str, key: dict[str, Any], source: str) -> Vote:
    """One voter's result file, checked against the ballot's key; the message names what is wrong."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BallotError(f"{source}: not a ballot result (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != RESULT_FORMAT:
        raise BallotError(f"{source}: not a tunedeck ballot result")
    if data.get("ballot") != key.get("ballot"):
        raise BallotError(f"{source}: a result of another ballot ({str(data.get('ballot'))[:20]!r})")
    role = data.get("role")
    if role not in ROLES:
        raise BallotError(f"{source}: role must be 'judge' or 'audience', not {str(role)[:20]!r}")
    picks = data.get("picks")
    if not isinstance(picks, dict) or not picks:
        raise BallotError(f"{source}: the result holds no picks")
    questions = key["questions"]
    for qid, aid in picks.items():
        if qid not in questions:
            raise BallotError(f"{source}: unknown question {str(qid)[:20]!r}")
        if aid not in questions[qid]["answers"]:
            raise BallotError(f"{source}: question {qid}: unknown answer {str(aid)[:20]!r}")
    voter = str(data.get("voter") or "")[:60]
    return Vote(source, str(role), voter, {str(q): str(a) for q, a in picks.items()})


@dataclass
class VersionTally:
    version: str
    judge_votes: int = 0  # picks by human judges
    audience_votes: int = 0
    llm_points: float = 0.0  # the LLM judge's rank points, summed over questions
    combined: float = 0.0  # the weighted score, summed over questions (the last one doubled by the rules)


@dataclass
class Tally:
    ballot: str
    voters: int
    judges: int
    audience: int
    questions: int
    versions: list[VersionTally] = field(default_factory=list)
    kappa: float | None = None  # the voters' picks against the LLM judge's top answer
    agreement: float | None = None  # raw share of picks that were the judge's top answer
    compared: int = 0  # picks compared with the judge

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def tally_votes(key: dict[str, Any], votes: list[Vote], rules: RoundRules) -> Tally:
    from core.evaluation.stats import cohen_kappa

    questions: dict[str, Any] = key["questions"]
    order = list(questions)
    versions: dict[str, VersionTally] = {}
    for q in questions.values():
        for answer in q["answers"].values():
            versions.setdefault(answer["version"], VersionTally(answer["version"]))
    judge_labels: list[str] = []
    voter_labels: list[str] = []
    for qn, qid in enumerate(order):
        answers = questions[qid]["answers"]
        counts = {role: dict.fromkeys(answers, 0) for role in ROLES}
        for vote in votes:
            if qid in vote.picks:
                counts[vote.role][vote.picks[qid]] += 1
        ranks = {aid: a.get("judge_rank") for aid, a in answers.items()}
        top = [aid for aid, r in ranks.items() if r == 1]
        for aid, answer in answers.items():
            tally = versions[answer["version"]]
            tally.judge_votes += counts["judge"][aid]
            tally.audience_votes += counts["audience"][aid]
            rank = ranks[aid]
            llm = rank_points(rank, len(answers)) / TOP_POINTS if rank is not None else None
            if rank is not None:
                tally.llm_points += rank_points(rank, len(answers))
            shares = [
                counts[role][aid] / sum(counts[role].values()) if sum(counts[role].values()) else None for role in ROLES
            ]
            score = combined_score(llm, shares[0], shares[1], rules, last=qn == len(order) - 1)
            tally.combined += score or 0.0
        if len(top) == 1:
            for vote in votes:
                if qid in vote.picks:
                    judge_labels.append(answers[top[0]]["version"])
                    voter_labels.append(answers[vote.picks[qid]]["version"])
    categories = sorted(versions)
    kappa = cohen_kappa(judge_labels, voter_labels, categories) if judge_labels else None
    agreement = (
        sum(a == b for a, b in zip(judge_labels, voter_labels, strict=True)) / len(judge_labels)
        if judge_labels
        else None
    )
    ranked = sorted(versions.values(), key=lambda t: (-t.combined, t.version))
    for tally in ranked:
        tally.llm_points = round(tally.llm_points, 2)
        tally.combined = round(tally.combined, 2)
    return Tally(
        ballot=str(key.get("ballot")),
        voters=len(votes),
        judges=sum(v.role == "judge" for v in votes),
        audience=sum(v.role == "audience" for v in votes),
        questions=len(order),
        versions=ranked,
        kappa=kappa,
        agreement=agreement,
        compared=len(judge_labels),
    )


def import_results(store: Store, key: dict[str, Any], paths: list[Path], rules: RoundRules) -> Tally:
    """Read every result file (all or nothing: one bad file and none is counted), tally them and keep
    the tally in the session for the Playground and Compare."""
    if not paths:
        raise BallotError("name at least one result file")
    votes, seen = [], set()
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BallotError(f"{path}: cannot read ({exc})") from None
        vote = parse_result(text, key, str(path))
        identity = (vote.role, vote.voter, json.dumps(vote.picks, sort_keys=True))
        if vote.voter and identity in seen:
            continue  # the same voter's file imported twice counts once
        seen.add(identity)
        votes.append(vote)
    tally = tally_votes(key, votes, rules)
    store.set_meta(RESULTS_META, {**tally.as_dict(), "imported_at": time.time()})
    return tally


def stored_results(store: Store) -> dict[str, Any] | None:
    """The newest imported tally of the session, if any."""
    value = store.get_meta(RESULTS_META)
    return value if isinstance(value, dict) and "versions" in value else None


def results_line(results: dict[str, Any]) -> str:
    """One plain line for the panes: voters, the leading versions and the judge-human kappa."""
    kappa = results.get("kappa")
    parts = [f"ballot: {results.get('voters', 0)} voter(s)"]
    for entry in results.get("versions", [])[:3]:
        parts.append(
            f"{entry['version']} {entry['combined']:.1f} pts"
            f" (judges {entry['judge_votes']}, audience {entry['audience_votes']})"
        )
    parts.append(f"kappa vs LLM judge {kappa:.2f}" if isinstance(kappa, (int, float)) else "kappa n/a")
    return " · ".join(parts)


__all__ = [
    "BallotError",
    "RESULT_FORMAT",
    "Tally",
    "Vote",
    "VersionTally",
    "ballot_html",
    "build_ballot",
    "import_results",
    "key_path",
    "parse_result",
    "read_key",
    "results_line",
    "stored_results",
    "tally_votes",
    "write_ballot",
]
