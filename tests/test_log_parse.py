"""Training log parsing: tqdm step lines (incl. '\\r'-joined refreshes) and per-epoch metric lines."""

from __future__ import annotations

import json

import pytest

from core.training.log_parse import (
    DEFAULT_METRIC_DEFINITIONS,
    EVAL_LOSS_METRIC,
    EVAL_PPL_METRIC,
    TRAIN_LOSS_METRIC,
    EpochPoint,
    LogParser,
    StepPoint,
    compile_metric_definitions,
    metric_kind,
    split_points,
)

BAR = "  16%|\u2588\u2588\u258c         | 13/79 [00:40<03:20,  3.05s/it]"


def step_line(epoch, step, loss, epochs=2, steps=3):
    return f"Training Epoch: {epoch}/{epochs}, step {step}/{steps} completed (loss: {loss}):{BAR}"


EVAL_LINE = " eval_ppl=tensor(2.9001, device='cuda:0') eval_epoch_loss=tensor(1.0647, device='cuda:0')"
EPOCH_LINE = "Epoch 1: train_perplexity=3.1000, train_epoch_loss=1.1314, epoch time 60.123s"


def test_reference_sample_lines():
    parser = LogParser()
    points = parser.feed(
        "Training Epoch: 1/5, step 12/79 completed (loss: 1.4149080514907837):  16%|\u2588\u2588\u258c | 13/79 "
        "[00:40<03:20,  3.05s/it]",
        1000,
    )
    assert points == [StepPoint(1, 12, 79, 5, 1.4149080514907837, 1000)]
    assert points[0].global_step == 12
    assert points[0].fraction_done == pytest.approx(13 / 395)
    points = parser.feed(EVAL_LINE, 2000) + parser.feed(EPOCH_LINE, 3000)
    assert points == [
        EpochPoint(EVAL_LOSS_METRIC, 1, 1.0647, 2000),
        EpochPoint(EVAL_PPL_METRIC, 1, 2.9001, 2000),
        EpochPoint(TRAIN_LOSS_METRIC, 1, 1.1314, 3000),
    ]


def test_carriage_return_refreshes_exponents_and_dedupe():
    parser = LogParser()
    message = "\r".join(
        [
            "Training Epoch: 1:   0%|          | 0/3 [00:00<?, ?it/s]",
            step_line(1, 0, "2.5e+00"),
            step_line(1, 0, "2.5e+00"),  # tqdm refresh of the same step
            step_line(1, 1, "1.75E-1"),
            step_line(1, 1, "1.75E-1") + "\r",  # trailing refresh and separator
        ]
    )
    points = parser.feed(message, 5000)
    assert [(p.epoch, p.step, p.loss) for p in points] == [(1, 0, 2.5), (1, 1, 0.175)]
    assert all(p.timestamp_ms == 5000 and p.steps_per_epoch == 3 and p.total_epochs == 2 for p in points)
    # the same step fed again in a later event is not emitted twice
    assert parser.feed(step_line(1, 1, "1.75E-1"), 6000) == []
    # non-finite loss and unrelated noise give nothing
    assert parser.feed(step_line(1, 2, "nan") + "\nsome warning: tensor(3.0)", 7000) == []


def test_full_run_assigns_eval_lines_to_the_training_epoch():
    events = []
    ts = 0

    def emit(message):
        nonlocal ts
        ts += 1000
        events.append({"timestamp": ts, "message": message, "ingestionTime": ts + 5})

    emit("Training Epoch: 1:   0%|          | 0/3")
    emit("\r".join(step_line(1, s, 2.0 - s / 10) for s in range(3)))
    emit(EVAL_LINE.replace("1.0647", "1.5").replace("2.9001", "4.4817"))
    emit("best eval loss on epoch 1 is 1.5")
    emit("Epoch 1: train_perplexity=6.0496, train_epoch_loss=1.8000, epoch time 60.1s")
    for s in range(3):
        emit(step_line(2, s, 1.2 - s / 10))
    emit(" eval_ppl=tensor(4.0552, device='cuda:0') eval_epoch_loss=tensor(1.4000, device='cuda:0')")
    emit("Epoch 2: train_perplexity=3.3201, train_epoch_loss=1.2000, epoch time 59.9s")

    parser = LogParser(DEFAULT_METRIC_DEFINITIONS)
    steps, epochs = split_points(parser.feed_events(events))
    assert [(p.epoch, p.step) for p in steps] == [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]
    assert [p.global_step for p in steps] == [0, 1, 2, 3, 4, 5]
    assert steps[-1].fraction_done == 1.0
    by_metric = {}
    for p in epochs:
        by_metric.setdefault(metric_kind(p.metric_name), []).append((p.epoch, p.value))
    assert by_metric == {
        "train_loss": [(1, 1.8), (2, 1.2)],
        "eval_loss": [(1, 1.5), (2, 1.4)],
        "eval_ppl": [(1, 4.4817), (2, 4.0552)],
    }


def test_epoch_fallback_without_step_lines():
    """E.g. a filter_log_events call that only fetches the epoch lines: eval -> epoch by occurrence."""
    parser = LogParser()
    msgs = [
        EVAL_LINE,
        EPOCH_LINE,
        EVAL_LINE.replace("1.0647", "0.9"),
        EPOCH_LINE.replace("Epoch 1", "Epoch 2").replace("1.1314", "0.8"),
    ]
    points = [p for i, m in enumerate(msgs) for p in parser.feed(m, i)]
    got = [(metric_kind(p.metric_name), p.epoch, p.value) for p in points]
    assert got == [
        ("eval_loss", 1, 1.0647),
        ("eval_ppl", 1, 2.9001),
        ("train_loss", 1, 1.1314),
        ("eval_loss", 2, 0.9),
        ("eval_ppl", 2, 2.9001),
        ("train_loss", 2, 0.8),
    ]


def test_incremental_feeding_and_restore_after_restart():
    whole = [
        step_line(1, 0, 2.0),
        step_line(1, 1, 1.9) + "\r" + step_line(1, 2, 1.8),
        EVAL_LINE,
        EPOCH_LINE,
        step_line(2, 0, 1.5),
        EVAL_LINE.replace("1.0647", "1.2"),
    ]
    one_go = LogParser().feed("\n".join(whole), 0)

    first = LogParser()
    pieces = []
    for m in whole[:3]:
        pieces += first.feed(m, 0)
    state = json.loads(json.dumps(first.snapshot()))  # survives being stored as JSON
    second = LogParser(state=state)
    assert second.current_epoch == 1
    for m in whole[2:]:  # overlap by one message: nothing repeats
        pieces += second.feed(m, 0)
    assert pieces == one_go
    assert [p.epoch for p in one_go if isinstance(p, EpochPoint)] == [1, 1, 1, 2, 2]


def test_custom_metric_definitions():
    defs = [{"Name": "my:train-loss", "Regex": r"loss=([0-9.]+)"}, ("my:lr", r"lr=([0-9.e-]+)")]
    parser = LogParser(defs)
    points = parser.feed("Epoch 3: loss=0.5 lr=1e-4", 10)
    assert points == [EpochPoint("my:train-loss", 3, 0.5, 10), EpochPoint("my:lr", 3, 1e-4, 10)]
    assert compile_metric_definitions(defs)[0][1] is compile_metric_definitions(defs)[0][1]
    with pytest.raises(ValueError, match="my:bad"):
        LogParser([{"Name": "my:bad", "Regex": "([0-9"}])
    assert metric_kind("huggingface-textgeneration:eval-ppl") == "eval_ppl"
    assert metric_kind("train_loss") == "train_loss" and metric_kind("my:lr") is None
