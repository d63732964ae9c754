"""Loss curve model of the simulated JumpStart trainer.

A toy, deterministic model of LoRA fine-tuning that responds to the knobs a league player turns:

* general learning ("fit") grows with the number of optimizer steps times an effective learning rate,
  so more data and more epochs help, and a larger batch means fewer (but better) steps per epoch;
* memorisation grows with the number of passes over the same data, faster with a higher learning
  rate, a higher LoRA rank, more target modules and less data; it pulls the train loss down and
  pushes the eval loss up, so too many epochs, too high a rank or learning rate visibly overfit;
* a learning rate far above the usual range makes training unstable (noisy, higher losses).

All values are pure functions of the parameters and the seed.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

DEFAULT_LEARNING_RATE = 1e-4
MIN_REPORTED_LOSS = 0.011


@dataclass(frozen=True)
class CurveParams:
    learning_rate: float = DEFAULT_LEARNING_RATE
    epochs: int = 5
    lora_r: int = 8
    lora_alpha: int = 32
    n_target_modules: int = 2
    batch_size: int = 4
    n_train: int = 800
    n_val: int = 200
    lora_dropout: float = 0.05
    seed: int = 0

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(self.n_train / max(1, self.batch_size)))


def seed_from(*parts: object) -> int:
    """A stable 64-bit seed from any printable parts (job name, hyperparameter seed...)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class EpochLosses:
    epoch: int
    train_loss: float
    eval_loss: float

    @property
    def train_perplexity(self) -> float:
        return math.exp(self.train_loss)

    @property
    def eval_perplexity(self) -> float:
        return math.exp(self.eval_loss)


class LossModel:
    """Loss as a function of training progress for one job."""

    def __init__(self, params: CurveParams) -> None:
        self.params = p = params
        rng = random.Random(p.seed)
        self.initial_loss = 2.05 + rng.uniform(-0.06, 0.06)
        self.eval_floor = 1.02 + rng.uniform(-0.03, 0.03)
        self.train_floor = 0.08
        lr_factor = max(p.learning_rate, 1e-12) / DEFAULT_LEARNING_RATE
        scale = max(p.lora_alpha, 1) / max(p.lora_r, 1)
        modules = max(p.n_target_modules, 1)
        batch = max(p.batch_size, 1)
        capacity = math.sqrt(max(p.lora_r, 1) * modules / 16.0)
        dropout_keep = max(0.05, 1.0 - 0.8 * min(max(p.lora_dropout, 0.0), 1.0)) / 0.96
        # Fit units gained per optimizer step; saturating in the learning rate.
        effective_lr = lr_factor / (1.0 + lr_factor / 60.0)
        self.fit_rate = 0.011 * effective_lr * math.sqrt(scale / 4.0) * (modules / 2.0) ** 0.35 * math.sqrt(batch / 4.0)
        # How much the adapter can memorise of this data, and how fast it does per pass.
        self.memory_amplitude = min(
            1.1, max(0.04, 0.3 * math.sqrt(capacity) * (500.0 / max(p.n_train, 1)) ** 0.5 * dropout_keep)
        )
        self.memory_rate = 0.16 * lr_factor**0.7 * math.sqrt(scale / 4.0) * math.sqrt(capacity)
        self.memory_onset = min(3.0, max(0.4, 1.5 / lr_factor**0.3))
        # Far too high a learning rate: the run goes unstable.
        self.instability = min(2.0, max(0.0, math.log10(lr_factor / 20.0))) if lr_factor > 20 else 0.0
        self.step_noise = 0.07 / math.sqrt(batch) + 0.12 * self.instability

    # -- noise-free curves, as functions of (fractional) epochs elapsed --------------------------

    def _fit(self, epochs_done: float) -> float:
        steps = epochs_done * self.params.steps_per_epoch
        fast = 1.0 - math.exp(-self.fit_rate * steps)
        slow = 1.0 - math.exp(-self.fit_rate * steps / 6.0)
        return 0.85 * fast + 0.15 * slow

    def _memorised(self, epochs_done: float) -> float:
        passes = max(0.0, epochs_done - self.memory_onset)
        return float(self.memory_amplitude * (1.0 - math.exp(-self.memory_rate * passes)))

    def _unstable(self, epochs_done: float) -> float:
        return 0.8 * self.instability * (1.0 - math.exp(-2.0 * epochs_done))

    def train_curve(self, epochs_done: float) -> float:
        general = self.eval_floor + (self.initial_loss - self.eval_floor) * (1.0 - self._fit(epochs_done))
        memorised = min(1.0, self._memorised(epochs_done)) * (self.eval_floor - self.train_floor)
        return max(self.train_floor, general - memorised) + self._unstable(epochs_done)

    def eval_curve(self, epochs_done: float) -> float:
        general = self.eval_floor + (self.initial_loss - self.eval_floor) * (1.0 - self._fit(epochs_done))
        return general + 0.9 * self._memorised(epochs_done) + 1.1 * self._unstable(epochs_done)

    # -- what the trainer prints ------------------------------------------------------------------

    def _noise(self, *key: object) -> random.Random:
        return random.Random(seed_from(self.params.seed, *key))

    def step_loss(self, epoch: int, step: int) -> float:
        """Loss of one optimizer step; epoch is 1-based, step 0-based (as llama-recipes prints it)."""
        steps = self.params.steps_per_epoch
        done = (epoch - 1) + (step + 1) / steps
        base = self.train_curve(done)
        noisy = base * (1.0 + self._noise("step", epoch, step).gauss(0.0, self.step_noise))
        return max(MIN_REPORTED_LOSS, noisy)

    def epoch_losses(self, epoch: int) -> EpochLosses:
        steps = self.params.steps_per_epoch
        samples = min(steps, 48)
        mean = sum(self.train_curve((epoch - 1) + (i + 0.5) / samples) for i in range(samples)) / samples
        rng = self._noise("epoch", epoch)
        train = max(MIN_REPORTED_LOSS, mean * (1.0 + rng.gauss(0.0, 0.004 + 0.03 * self.instability)))
        evaluated = max(
            MIN_REPORTED_LOSS, self.eval_curve(epoch) * (1.0 + rng.gauss(0.0, 0.003 + 0.03 * self.instability))
        )
        return EpochLosses(epoch=epoch, train_loss=train, eval_loss=evaluated)

    def all_epochs(self) -> list[EpochLosses]:
        return [self.epoch_losses(e) for e in range(1, self.params.epochs + 1)]
