"""The training configuration, saved as ``config.json["train"]`` and overridable from the command line."""

from __future__ import annotations

from dataclasses import dataclass

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
PRECISIONS = ("fp32", "bf16")               # see rnnkit.training.precision


@dataclass
class TrainConfig:
    """How to train; every field has a command-line flag of the same name (``--batch-size`` …)."""

    steps: int = 2000
    epochs: int | None = None
    batch_size: int = 32
    seq_len: int = 100
    optimizer: str = "adam"
    lr: float = 2e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    beta2: float = 0.999
    schedule: str = "cosine"
    warmup: int = 50
    min_lr_ratio: float = 0.1
    lr_gamma: float = 0.5
    lr_step_size: int = 1000
    clip_norm: float | None = 5.0
    clip_value: float | None = None
    ema: float | None = None
    eval_every: int = 200
    eval_batches: int | None = None
    save_every: int = 200
    log_every: int = 10
    patience: int | None = None
    max_bad_steps: int = 10
    time_limit: float | None = None
    sample_length: int = 200
    seed: int = 1234
    device: str = "auto"
    precision: str = "fp32"          # bf16: autocast to bfloat16, weights and checkpoints float32
    tensorboard: str | None = None     # also write TensorBoard event files here; changes nothing in training

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field out of range."""
        for name in ("steps", "batch_size", "seq_len", "eval_every", "save_every", "log_every", "max_bad_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown --precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if not self.lr > 0:
            raise ValueError(f"--lr must be positive, got {self.lr}")
        for name in ("clip_norm", "clip_value", "time_limit"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {value}")
        if not 0 <= self.beta2 < 1:
            raise ValueError(f"--beta2 must be in [0, 1), got {self.beta2}")
        if self.warmup < 0 or self.weight_decay < 0 or self.sample_length < 0:
            raise ValueError("--warmup, --weight-decay and --sample-length must not be negative")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"--epochs must be at least 1, got {self.epochs}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"--patience must be at least 1, got {self.patience}")
        if self.ema is not None and not 0 < self.ema < 1:
            raise ValueError(f"--ema must be in (0, 1), got {self.ema}")
        if self.eval_batches is not None and self.eval_batches < 1:
            raise ValueError(f"--eval-batches must be at least 1, got {self.eval_batches}")
