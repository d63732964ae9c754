"""Print the keyboard reference (markdown, one table per pane) from the app's own Binding lists.

    python tools/keys_reference.py            # print it
    python tools/keys_reference.py --readme   # replace the block between the keys markers in README.md

Only keys declared with textual's `Binding` are listed; the key column shows every alias. The id
column is what `[ui] keymap` remaps (`keymap = { "jobs.plot" = "f5" }`); "-" means it has no id.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from tui.keys import key_label

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- keys:start -->", "<!-- keys:end -->"

# section -> [(where, "module:Class")], in the order the user meets them
SECTIONS: dict[str, list[tuple[str, str]]] = {
    "Everywhere": [("app", "tui.app:TunedeckApp"), ("help (F1)", "tui.screens.help:HelpScreen")],
    "Topics (1)": [("pane", "tui.panes.topics.pane:TopicsPane"), ("brief form", "tui.panes.topics.brief:BriefForm")],
    "Pairs (2)": [
        ("pane", "tui.panes.pairs.pane:PairsPane"),
        ("table", "tui.panes.pairs.table:PairTable"),
        ("edit dialog", "tui.panes.pairs.editor:PairEditor"),
        ("duplicate clusters", "tui.panes.pairs.duplicates:DuplicateClusters"),
    ],
    "Jobs (3)": [
        ("pane", "tui.panes.jobs.pane:JobsPane"),
        ("table", "tui.panes.jobs.table:JobTable"),
        ("sweep builder", "tui.panes.jobs.sweep_builder:SweepBuilder"),
        ("experiment sheet", "tui.panes.jobs.sheet:ExperimentSheet"),
        ("job details", "tui.panes.jobs.details:JobDetails"),
        ("recipe cards (console)", "tui.panes.jobs.console_cards:CardsView"),
        ("console run form", "tui.panes.jobs.run_form:RunForm"),
        ("log import", "tui.panes.jobs.log_import:LogImportDialog"),
        ("League view", "tui.panes.jobs.league:LeagueView"),
        ("submission form", "tui.panes.jobs.league:SubmissionForm"),
    ],
    "Compare (4)": [
        ("pane", "tui.panes.compare.pane:ComparePane"),
        ("endpoints dialog", "tui.screens.endpoints:EndpointsScreen"),
        ("rubric/settings", "tui.panes.compare.settings:EvalSettingsForm"),
    ],
    "Playground (5)": [
        ("pane", "tui.panes.playground.pane:PlaygroundPane"),
        ("answer", "tui.panes.playground.samples:SampleView"),
        ("versions list", "tui.panes.playground.versions:VersionList"),
        ("slider", "tui.widgets.float_slider:FloatSlider"),
    ],
    "Dialogs": [
        ("list picker", "tui.screens.choice_picker:ChoicePicker"),
        ("text prompt", "tui.screens.ask:AskText"),
        ("yes/no", "tui.screens.ask:Confirm"),
    ],
}
# where a binding only works in a mode, or its own text is too terse
WHERE = {f"compare.vote_{side}": "blind vote (after v)" for side in ("left", "right", "tie", "both_bad")}
DOES = {
    f"pane.{pane}.alt": f"Show the {title} pane, also from inside a text field"
    for pane, title in (
        ("topics", "Topics"),
        ("pairs", "Pairs"),
        ("jobs", "Jobs"),
        ("compare", "Compare"),
        ("playground", "Playground"),
    )
}


def _class(path: str) -> type:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _keys(key: str) -> str:
    return " ".join(f"`{key_label(k)}`" for k in key.split(","))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rows_for(cls: type) -> list[tuple[str, str, str, str]]:
    """(where override, keys, what it does, keymap id) for each Binding the class itself declares."""
    rows = []
    for binding in cls.__dict__.get("BINDINGS", []):
        if not isinstance(binding, Binding):
            continue
        what = binding.tooltip or binding.description or binding.action
        if binding.tooltip and binding.description and binding.description.lower() not in binding.tooltip.lower():
            what = f"{binding.description}: {binding.tooltip}"
        what = DOES.get(binding.id or "", what)
        rows.append(
            (WHERE.get(binding.id or "", ""), _keys(binding.key), what, f"`{binding.id}`" if binding.id else "-")
        )
    return rows


def reference() -> str:
    out: list[str] = []
    for section, sources in SECTIONS.items():
        out += [f"### {section}", "", "| where | keys | does | keymap id |", "|---|---|---|---|"]
        for where, path in sources:
            for mode, keys, what, binding_id in rows_for(_class(path)):
                out.append(f"| {mode or where} | {keys} | {_cell(what)} | {binding_id} |")
        if section == "Everywhere":
            out.append(f"| app | {_keys(App.COMMAND_PALETTE_BINDING)} | command palette (`go: Jobs`, ...) | - |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def replace_block(text: str, body: str) -> str:
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md needs the markers {START} and {END}")
    return text[: start + len(START)] + "\n" + body + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="write the tables into README.md")
    args = parser.parse_args(argv)
    body = reference()
    if not args.readme:
        sys.stdout.write(body)
        return 0
    readme = ROOT / "README.md"
    readme.write_text(replace_block(readme.read_text(encoding="utf-8"), body), encoding="utf-8")
    print(f"updated the keys block in {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
