"""Training: clipping, checkpoints, the trainer."""

from rnnkit.training.clipping import ClipResult, clip_gradients

__all__ = ["ClipResult", "clip_gradients"]
