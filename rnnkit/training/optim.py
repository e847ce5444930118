"""Building the optimizer named in the training configuration."""

from __future__ import annotations

import torch

from rnnkit.training.config import TrainConfig


def build_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam, AdamW (second-moment decay ``config.beta2``), SGD (with momentum) or RMSprop, with ``config.lr``
    and ``config.weight_decay``."""
    params = list(params)
    lr, wd = config.lr, config.weight_decay
    # foreach: one multi-tensor update instead of a loop over the parameters. The cells keep one tensor per
    # named weight (W_u, W_f, …: twice torch.nn's count), and on the CPU the loop cost about 1 ms a step.
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, config.beta2), weight_decay=wd, foreach=True)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(0.9, config.beta2), weight_decay=wd, foreach=True)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when available, else the CPU; asking for CUDA without one is a ``ValueError``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but this machine has no CUDA GPU; use --device cpu")
    return device
