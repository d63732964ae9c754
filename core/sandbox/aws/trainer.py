"""Simulated JumpStart Llama fine-tuning container.

Given what a training container would see (hyperparameters, instance type, the files of the
`training` and `validation` channels), `plan_training` returns the timed log lines the real script
(llama-recipes based `transfer_learning.py` under the SageMaker training toolkit) prints, and
whether and how it fails. The emulator's job runtime replays the plan on its compressed clock.

Line formats follow llama-recipes' `train()` / `evaluation()`:
  per step (tqdm description, several refreshes may share one event, joined by CR):
    Training Epoch: 1/5, step 12/79 completed (loss: 1.4149080514907837):  16%|█▌        | 13/79 [...]
  per epoch:
     eval_ppl=tensor(2.9001, device='cuda:0') eval_epoch_loss=tensor(1.0647, device='cuda:0')
    Epoch 1: train_perplexity=3.1000, train_epoch_loss=1.1314, epoch time 60.123s
Steps are 0-based in the description (`step s/S` with s in 0..S-1) and 1-based in the bar.
"""

from __future__ import annotations

import json
import math
import random
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from core.sandbox.aws.curves import CurveParams, EpochLosses, LossModel, seed_from

if TYPE_CHECKING:
    from collections.abc import Mapping

ALL_TARGET_MODULES = ("q_proj", "v_proj", "k_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DEFAULT_HYPERPARAMETERS: dict[str, str] = {
    "epoch": "5",
    "learning_rate": "0.0001",
    "lora_r": "8",
    "lora_alpha": "32",
    "target_modules": "q_proj,v_proj",
    "lora_dropout": "0.05",
    "instruction_tuned": "False",
    "chat_dataset": "False",
    "add_input_output_demarcation_key": "True",
    "per_device_train_batch_size": "4",
    "per_device_eval_batch_size": "1",
    "max_train_samples": "-1",
    "max_val_samples": "-1",
    "seed": "10",
    "max_input_length": "-1",
    "validation_split_ratio": "0.2",
    "train_data_split_seed": "0",
    "preprocessing_num_workers": "None",
    "int8_quantization": "False",
    "enable_fsdp": "True",
}
INT_FIELDS = (
    "epoch",
    "lora_r",
    "lora_alpha",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "max_train_samples",
    "max_val_samples",
    "seed",
    "max_input_length",
    "train_data_split_seed",
)
FLOAT_FIELDS = ("learning_rate", "lora_dropout", "validation_split_ratio")
DEFAULT_INSTRUCTION_FIELDS = ("instruction", "context", "response")
CHAT_KEYS = ("dialog", "messages", "conversations")
DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".txt")

# Relative GPU throughput per instance family (A10G = 1) and GPU memory in GiB.
GPU_SPEED = {
    "g4dn": 0.45,
    "g5": 1.0,
    "g6": 0.85,
    "g6e": 2.0,
    "p3": 0.9,
    "p3dn": 1.0,
    "p4d": 3.0,
    "p4de": 3.0,
    "p5": 5.5,
    "p5e": 5.5,
    "p5en": 5.5,
}
SMALL_GPU_FAMILIES = ("g4dn", "g5", "g6")

# The emulated container's own memory rule (deliberately not tunedeck's planner estimate, so that
# a plan can be wrong and the out-of-memory requeue has something to catch): the most
# per_device_train_batch_size x max_input_length tokens one device holds, by instance type; an
# unset max_input_length (-1) counts as 1024 tokens. Types not listed: 4096 on one GPU of a small
# family (g4dn, g5, g6), 16384 on several of them (FSDP shards the weights), 65536 elsewhere.
OOM_TOKENS_PER_DEVICE: dict[str, int] = {
    "ml.g5.2xlarge": 4096,
    "ml.g5.4xlarge": 4096,
    "ml.g5.8xlarge": 6144,
    "ml.g5.12xlarge": 16384,
    "ml.g5.24xlarge": 16384,
    "ml.g5.48xlarge": 32768,
    "ml.g6.2xlarge": 4096,
    "ml.g6e.2xlarge": 12288,
    "ml.p4d.24xlarge": 65536,
}
OOM_DEFAULT_INPUT_LENGTH = 1024


def oom_token_limit(instance_type: str) -> int:
    """The emulated table's tokens per device for this instance type (see OOM_TOKENS_PER_DEVICE)."""
    if instance_type in OOM_TOKENS_PER_DEVICE:
        return OOM_TOKENS_PER_DEVICE[instance_type]
    if instance_family(instance_type) in SMALL_GPU_FAMILIES:
        size = instance_type.split(".")[-1]
        return 16384 if size in ("12xlarge", "24xlarge", "48xlarge") else 4096
    return 65536


def runs_out_of_memory(instance_type: str, hyperparameters: Mapping[str, str]) -> bool:
    """Whether the emulated container dies of CUDA out of memory by the table above."""
    try:
        batch = int(
            hyperparameters.get("per_device_train_batch_size", DEFAULT_HYPERPARAMETERS["per_device_train_batch_size"])
        )
        length = int(hyperparameters.get("max_input_length", "-1"))
    except ValueError:
        return False
    tokens = max(1, batch) * (length if length > 0 else OOM_DEFAULT_INPUT_LENGTH)
    return tokens > oom_token_limit(instance_type)


# Shares of one (wall-clock) epoch used by the phases inside the container.
PREAMBLE_SHARE = 0.15
TRAIN_LOOP_SHARE = 0.82
FINALE_SHARE = 0.1
MAX_REFRESHES_PER_EPOCH = 40


@dataclass(frozen=True)
class PlannedEvent:
    offset: float  # seconds after the container started
    message: str


@dataclass
class TrainingPlan:
    events: list[PlannedEvent] = field(default_factory=list)
    duration: float = 0.0  # seconds from container start to its exit
    failure_reason: str | None = None
    epochs: list[EpochLosses] = field(default_factory=list)
    steps_per_epoch: int = 0
    n_train: int = 0
    n_val: int = 0


@dataclass(frozen=True)
class ContainerInputs:
    job_name: str
    hyperparameters: Mapping[str, str]
    instance_type: str
    instance_count: int = 1
    training_files: Mapping[str, bytes] | None = None  # relative key -> content; None: no training channel
    validation_files: Mapping[str, bytes] | None = None


class ScriptError(Exception):
    """What the user script dies with; str() is the `ErrorMessage` line ("ValueError: ...")."""


def decode_hyperparameters(raw: Mapping[str, str]) -> dict[str, str]:
    """Undo the SDK's JSON encoding ("\\"2\\"" -> "2"); plain strings pass through unchanged."""
    decoded: dict[str, str] = {}
    for key, value in raw.items():
        text = str(value)
        try:
            parsed = json.loads(text)
        except (ValueError, TypeError):
            parsed = text
        decoded[key] = parsed if isinstance(parsed, str) else text
    return decoded


def script_command(hyperparameters: Mapping[str, str]) -> str:
    args = " ".join(f"--{k} {v}" for k, v in sorted(hyperparameters.items()) if not k.startswith("sagemaker_"))
    return f"/opt/conda/bin/python3.10 transfer_learning.py {args}".rstrip()


def algorithm_error(message: str, command: str) -> str:
    """FailureReason text of a user-script failure under the SageMaker training toolkit."""
    return (
        f'AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage "{message}"\n'
        f'Command "{command}", exit code: 1'
    )


def instance_family(instance_type: str) -> str:
    parts = instance_type.split(".")
    return parts[1] if len(parts) >= 3 else instance_type


@dataclass(frozen=True)
class Settings:
    epochs: int
    learning_rate: float
    lora_r: int
    lora_alpha: int
    target_modules: tuple[str, ...]
    lora_dropout: float
    batch_size: int
    eval_batch_size: int
    max_train_samples: int
    max_val_samples: int
    seed: int
    validation_split_ratio: float
    instruction_tuned: bool
    chat_dataset: bool
    int8_quantization: bool
    enable_fsdp: bool


def parse_settings(hp: Mapping[str, str]) -> Settings:
    values = dict(DEFAULT_HYPERPARAMETERS)
    values.update(hp)
    ints: dict[str, int] = {}
    for name in INT_FIELDS:
        try:
            ints[name] = int(values[name])
        except ValueError:
            raise ScriptError(f"ValueError: invalid literal for int() with base 10: '{values[name]}'") from None
    floats: dict[str, float] = {}
    for name in FLOAT_FIELDS:
        try:
            floats[name] = float(values[name])
        except ValueError:
            raise ScriptError(f"ValueError: could not convert string to float: '{values[name]}'") from None
    # The script compares with the literal "True": "true" or "1" silently mean False.
    flags = {
        name: values[name] == "True"
        for name in ("instruction_tuned", "chat_dataset", "int8_quantization", "enable_fsdp")
    }
    return Settings(
        epochs=ints["epoch"],
        learning_rate=floats["learning_rate"],
        lora_r=ints["lora_r"],
        lora_alpha=ints["lora_alpha"],
        target_modules=tuple(values["target_modules"].split(",")),
        lora_dropout=floats["lora_dropout"],
        batch_size=ints["per_device_train_batch_size"],
        eval_batch_size=ints["per_device_eval_batch_size"],
        max_train_samples=ints["max_train_samples"],
        max_val_samples=ints["max_val_samples"],
        seed=ints["seed"],
        validation_split_ratio=floats["validation_split_ratio"],
        **flags,
    )


def check_settings(s: Settings) -> None:
    """Raise ScriptError the way the script, peft or torch would reject these values."""
    if s.instruction_tuned and s.chat_dataset:
        raise ScriptError(
            "ValueError: Both instruction_tuned and chat_dataset are set to True. At most one of them can be True."
        )
    if s.int8_quantization and s.enable_fsdp:
        raise ScriptError(
            "ValueError: Int8 quantization is not supported with FSDP. "
            "Please set either int8_quantization or enable_fsdp to False."
        )
    unknown = sorted(set(s.target_modules) - set(ALL_TARGET_MODULES))
    if unknown:
        shown = "{" + ", ".join(repr(m) for m in unknown) + "}"
        raise ScriptError(
            f"ValueError: Target modules {shown} not found in the base model. "
            "Please check the target modules and try again."
        )
    if s.lora_r < 1:
        raise ScriptError(f"ValueError: `r` should be a positive integer value but the value passed is {s.lora_r}")
    if s.learning_rate <= 0 or not math.isfinite(s.learning_rate):
        raise ScriptError(f"ValueError: Invalid learning rate: {s.learning_rate}")
    if s.batch_size < 1:
        raise ScriptError(
            f"ValueError: batch_size should be a positive integer value, but got batch_size={s.batch_size}"
        )
    if not 0.0 <= s.lora_dropout <= 1.0:
        raise ScriptError(f"ValueError: dropout probability has to be between 0 and 1, but got {s.lora_dropout}")
    if s.epochs < 1:
        raise ScriptError("ZeroDivisionError: division by zero")


# -- training data ---------------------------------------------------------------------------------

_PLACEHOLDER = string.Formatter()


def _template_fields(template: Mapping[str, str]) -> list[str]:
    names: list[str] = []
    for key in ("prompt", "completion"):
        if key not in template:
            raise ScriptError(f"KeyError: '{key}'")
        for _, name, _, _ in _PLACEHOLDER.parse(str(template[key])):
            if name and name not in names:
                names.append(name)
    return names


def count_records(files: Mapping[str, bytes], s: Settings, channel: str) -> int:
    """Number of training records in a channel; raises ScriptError for data the script cannot read."""
    data = {k: v for k, v in files.items() if k.rsplit("/", 1)[-1] != "template.json" and not k.endswith("/")}
    structured = s.instruction_tuned or s.chat_dataset
    if structured:
        data = {k: v for k, v in data.items() if k.endswith(".jsonl")}
        if not data:
            raise ScriptError(
                f"ValueError: No file with the .jsonl extension found in the {channel} channel "
                f"/opt/ml/input/data/{channel}."
            )
    else:
        data = {k: v for k, v in data.items() if k.lower().endswith(DATA_SUFFIXES)}
        if not data:
            raise ScriptError(
                f"ValueError: No CSV, JSON or TXT file found in the {channel} channel /opt/ml/input/data/{channel}."
            )
        if len(data) > 1:
            raise ScriptError(
                f"ValueError: Found {len(data)} data files in the {channel} channel; "
                "domain adaptation expects exactly one CSV, JSON or TXT file."
            )
    required: list[str] = []
    if s.instruction_tuned:
        template_key = next((k for k in files if k.rsplit("/", 1)[-1] == "template.json"), None)
        if template_key is None:
            required = list(DEFAULT_INSTRUCTION_FIELDS)
        else:
            try:
                template = json.loads(files[template_key].decode("utf-8", "replace"))
            except ValueError as exc:
                raise ScriptError(f"json.decoder.JSONDecodeError: {exc}") from None
            if not isinstance(template, dict):
                raise ScriptError("KeyError: 'prompt'")
            required = _template_fields(template)
    records = 0
    for key in sorted(data):
        text = data[key].decode("utf-8", "replace")
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not structured:
            records += len(lines)
            continue
        for row, line in enumerate(lines):
            try:
                record = json.loads(line)
            except ValueError:
                raise ScriptError(f"pyarrow.lib.ArrowInvalid: JSON parse error: Invalid value. in row {row}") from None
            if not isinstance(record, dict):
                raise ScriptError(f"pyarrow.lib.ArrowInvalid: JSON parse error: Not an object. in row {row}")
            for name in required:
                if name not in record:
                    raise ScriptError(f"KeyError: '{name}'")
            if s.chat_dataset and not any(isinstance(record.get(k), list) for k in CHAT_KEYS):
                raise ScriptError("KeyError: 'dialog'")
            records += 1
    if records == 0:
        raise ScriptError(f"ValueError: The {channel} dataset is empty.")
    return records


# -- log formatting --------------------------------------------------------------------------------

_BLOCKS = " ▏▎▍▌▋▊▉█"


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def tqdm_bar(desc: str, n: int, total: int, seconds_per_it: float, width: int = 10) -> str:
    frac = n / total if total else 1.0
    eighths = int(frac * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_BLOCKS[part] if full < width else "")
    bar = bar.ljust(width)
    elapsed = n * seconds_per_it
    remaining = (total - n) * seconds_per_it
    rate = f"{seconds_per_it:5.2f}s/it" if seconds_per_it >= 1 else f"{1 / seconds_per_it:5.2f}it/s"
    return f"{desc}: {frac * 100:3.0f}%|{bar}| {n}/{total} [{_clock(elapsed)}<{_clock(remaining)}, {rate}]"


def toolkit_line(wall: float, level: str, text: str) -> str:
    stamp = datetime.fromtimestamp(wall, tz=UTC).strftime("%Y-%m-%d %H:%M:%S,") + f"{int(wall * 1000) % 1000:03d}"
    return f"{stamp} sagemaker-training-toolkit {level:<8} {text}"


def seconds_per_step(instance_type: str, batch_size: int) -> float:
    speed = GPU_SPEED.get(instance_family(instance_type), 1.0)
    return float(0.25 + 0.9 * max(1, batch_size) ** 0.85 / speed)


# -- the plan --------------------------------------------------------------------------------------


class _Recorder:
    def __init__(self, clock_start: float) -> None:
        self.clock_start = clock_start
        self.events: list[PlannedEvent] = []

    def add(self, offset: float, message: str) -> None:
        if self.events and offset < self.events[-1].offset:
            offset = self.events[-1].offset
        self.events.append(PlannedEvent(offset, message))

    def toolkit(self, offset: float, level: str, text: str) -> None:
        self.add(offset, toolkit_line(self.clock_start + offset, level, text))


def _preamble(rec: _Recorder, epoch_seconds: float, command: str, s: Settings | None) -> None:
    step = epoch_seconds * PREAMBLE_SHARE / 10
    rec.add(0.0, "bash: cannot set terminal process group (-1): Inappropriate ioctl for device")
    rec.add(0.0, "bash: no job control in this shell")
    rec.toolkit(step, "INFO", "Imported framework sagemaker_pytorch_container.training")
    rec.toolkit(step, "INFO", "No Neurons detected (normal if no neurons installed)")
    rec.toolkit(2 * step, "INFO", "Invoking user script")
    rec.add(2 * step, "Invoking script with the following command:")
    rec.add(2 * step, command)
    if s is not None:
        rec.add(4 * step, "INFO:root:Loading the pre-trained model and tokenizer from /opt/ml/additonals3data.")
        rec.add(6 * step, "Loading checkpoint shards: 100%|██████████| 2/2 [00:06<00:00,  3.05s/it]")
        mode = "8-bit quantized" if s.int8_quantization else ("FSDP" if s.enable_fsdp else "bf16")
        rec.add(
            7 * step,
            f"--> Training in {mode} mode with LoRA (r={s.lora_r}, alpha={s.lora_alpha}, "
            f"target_modules={list(s.target_modules)})",
        )


def _fail(rec: _Recorder, plan: TrainingPlan, offset: float, error: str, command: str) -> TrainingPlan:
    rec.add(offset, "Traceback (most recent call last):")
    rec.add(offset, '  File "/opt/ml/code/transfer_learning.py", line 412, in <module>\n    main()')
    rec.add(offset, error)
    rec.toolkit(offset + 0.01, "ERROR", "Reporting training FAILURE")
    rec.toolkit(
        offset + 0.01, "ERROR", f'ExecuteUserScriptError:\nExitCode 1\nErrorMessage "{error}"\nCommand "{command}"'
    )
    plan.events = rec.events
    plan.duration = offset + 0.02
    plan.failure_reason = algorithm_error(error, command)
    return plan


def plan_training(inputs: ContainerInputs, *, epoch_seconds: float, clock_start: float) -> TrainingPlan:
    """Timed log lines of one container run, and its outcome."""
    hp = decode_hyperparameters(inputs.hyperparameters)
    command = script_command(hp)
    rec = _Recorder(clock_start)
    plan = TrainingPlan()
    E = epoch_seconds
    try:
        settings = parse_settings(hp)
        check_settings(settings)
    except ScriptError as exc:
        _preamble(rec, E, command, None)
        return _fail(rec, plan, PREAMBLE_SHARE * E * 0.5, str(exc), command)

    s = settings
    _preamble(rec, E, command, s)
    try:
        if inputs.training_files is None:
            raise ScriptError("FileNotFoundError: [Errno 2] No such file or directory: '/opt/ml/input/data/training'")
        n_records = count_records(inputs.training_files, s, "training")
        n_val_records = (
            count_records(inputs.validation_files, s, "validation") if inputs.validation_files is not None else None
        )
        if n_val_records is None:
            ratio = s.validation_split_ratio
            if not 0.0 < ratio < 1.0:
                raise ScriptError(
                    f"ValueError: test_size={ratio} should be either positive and smaller than the "
                    f"number of samples {n_records} or a float in the (0, 1) range"
                )
            n_val = max(1, round(n_records * ratio)) if n_records > 1 else 0
            n_train = n_records - n_val
        else:
            n_train, n_val = n_records, n_val_records
        if s.max_train_samples > 0:
            n_train = min(n_train, s.max_train_samples)
        if s.max_val_samples > 0:
            n_val = min(n_val, s.max_val_samples)
        if n_train < 1:
            raise ScriptError("ValueError: The training dataset is empty after the validation split.")
    except ScriptError as exc:
        return _fail(rec, plan, PREAMBLE_SHARE * E * 0.8, str(exc), command)

    family = instance_family(inputs.instance_type)
    too_big = runs_out_of_memory(inputs.instance_type, hp)
    if too_big or (not s.int8_quantization and not s.enable_fsdp and family in SMALL_GPU_FAMILIES):
        oom = (
            "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 224.00 MiB. GPU 0 has a total "
            "capacity of 22.19 GiB of which 98.06 MiB is free. Of the allocated memory 21.38 GiB is allocated by "
            "PyTorch, and 421.55 MiB is reserved by PyTorch but unallocated."
        )
        return _fail(rec, plan, PREAMBLE_SHARE * E + 0.05 * E, oom, command)

    params = CurveParams(
        learning_rate=s.learning_rate,
        epochs=s.epochs,
        lora_r=s.lora_r,
        lora_alpha=s.lora_alpha,
        n_target_modules=len(set(s.target_modules)),
        batch_size=s.batch_size,
        n_train=n_train,
        n_val=n_val,
        lora_dropout=s.lora_dropout,
        seed=seed_from(inputs.job_name, s.seed),
    )
    model = LossModel(params)
    steps = params.steps_per_epoch
    eval_steps = max(1, math.ceil(max(n_val, 1) / max(1, s.eval_batch_size)))
    sec_it = seconds_per_step(inputs.instance_type, s.batch_size)
    rng = random.Random(seed_from(inputs.job_name, "refresh"))
    plan.steps_per_epoch, plan.n_train, plan.n_val = steps, n_train, n_val
    rec.add(PREAMBLE_SHARE * E * 0.9, f"--> Training Set Length = {n_train}")
    rec.add(PREAMBLE_SHARE * E * 0.9, f"--> Validation Set Length = {n_val}")

    best: float | None = None
    n_refresh = min(steps, MAX_REFRESHES_PER_EPOCH)
    for epoch in range(1, s.epochs + 1):
        start = PREAMBLE_SHARE * E + (epoch - 1) * E
        shown = sorted({max(0, math.ceil((i + 1) * steps / n_refresh) - 1) for i in range(n_refresh)})
        group: list[str] = []
        for idx, step in enumerate(shown):
            loss = model.step_loss(epoch, step)
            desc = f"Training Epoch: {epoch}/{s.epochs}, step {step}/{steps} completed (loss: {loss!r})"
            group.append(tqdm_bar(desc, step + 1, steps, sec_it * rng.uniform(0.97, 1.03)))
            last = idx == len(shown) - 1
            if last or len(group) >= rng.choice((1, 1, 2, 3)):
                rec.add(start + TRAIN_LOOP_SHARE * E * (step + 1) / steps, "\r".join(group))
                group = []
        losses = model.epoch_losses(epoch)
        plan.epochs.append(losses)
        at = start + TRAIN_LOOP_SHARE * E
        epoch_time = steps * sec_it * rng.uniform(0.98, 1.02) + eval_steps * sec_it * 0.3
        gib = 14 + (s.batch_size // 2) + (0 if s.int8_quantization else 4)
        rec.add(at, f"Max CUDA memory allocated was {gib} GB")
        rec.add(at, f"Max CUDA memory reserved was {gib + 2} GB")
        rec.add(at, f"Peak active CUDA memory was {gib} GB")
        rec.add(at, "Cuda Malloc retires : 0")
        rec.add(at, "CPU Total Peak Memory consumed during the train (max): 3 GB")
        eval_at = start + (TRAIN_LOOP_SHARE + 0.12) * E
        rec.add(eval_at, tqdm_bar("evaluating Epoch", eval_steps, eval_steps, sec_it * 0.3))
        rec.add(
            eval_at,
            f" eval_ppl=tensor({losses.eval_perplexity:.4f}, device='cuda:0') "
            f"eval_epoch_loss=tensor({losses.eval_loss:.4f}, device='cuda:0')",
        )
        if best is None or losses.eval_loss < best:
            best = losses.eval_loss
            rec.add(eval_at, f"best eval loss on epoch {epoch} is {losses.eval_loss!r}")
        rec.add(
            eval_at,
            f"Epoch {epoch}: train_perplexity={losses.train_perplexity:.4f}, "
            f"train_epoch_loss={losses.train_loss:.4f}, epoch time {epoch_time!r}s",
        )

    end = PREAMBLE_SHARE * E + s.epochs * E
    avg = lambda xs: sum(xs) / len(xs)  # noqa: E731
    for key, value in (
        ("avg_train_prep", avg([e.train_perplexity for e in plan.epochs])),
        ("avg_train_loss", avg([e.train_loss for e in plan.epochs])),
        ("avg_eval_prep", avg([e.eval_perplexity for e in plan.epochs])),
        ("avg_eval_loss", avg([e.eval_loss for e in plan.epochs])),
        ("avg_epoch_time", steps * sec_it),
        ("avg_checkpoint_time", 4.2),
    ):
        rec.add(end, f"Key: {key}, Value: {value}")
    rec.add(end + FINALE_SHARE * E * 0.5, "INFO:root:Combining pre-trained base model with the PEFT adapter module.")
    rec.add(end + FINALE_SHARE * E * 0.9, "INFO:root:Saving the combined model in safetensors format.")
    rec.toolkit(end + FINALE_SHARE * E, "INFO", "Waiting for the process to finish and give a return code.")
    rec.toolkit(end + FINALE_SHARE * E, "INFO", "Done waiting for a return code. Received 0 from exiting process.")
    rec.toolkit(end + FINALE_SHARE * E, "INFO", "Reporting training SUCCESS")
    plan.events = rec.events
    plan.duration = end + FINALE_SHARE * E
    return plan
