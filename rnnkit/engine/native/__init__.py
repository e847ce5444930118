"""Compiled kernels (``step.c``, ``train_*.c``), built on first use where a C compiler is found: batch-1
generation steps and training loops for the built-in cells."""

from rnnkit.engine.native.build import cache_dir, library, reason, sgemm
from rnnkit.engine.native.calls import (
    STEPS,
    available,
    bind_lstm_step_bf16,
    bind_step,
    gru_after_backward,
    gru_after_forward,
    gru_backward,
    gru_forward,
    linear_row,
    loops_take,
    loops_take_dtype,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
    simple_gru_backward,
    simple_gru_forward,
    training_loops,
    weight_grad,
    weight_grad_takes,
)

__all__ = ["STEPS", "available", "bind_lstm_step_bf16", "bind_step", "cache_dir", "gru_after_backward",
           "gru_after_forward", "gru_backward", "gru_forward", "library", "linear_row", "loops_take",
           "loops_take_dtype", "lstm_backward", "lstm_forward", "reason", "rnn_backward", "rnn_forward", "sgemm",
           "simple_gru_backward", "simple_gru_forward", "training_loops", "weight_grad", "weight_grad_takes"]


def reset() -> None:
    """Forget the loaded library and every probe, so that the next use builds or loads afresh (after a change
    of ``RNNKIT_NATIVE``, ``RNNKIT_CACHE`` or ``CC``)."""
    library.cache_clear()
    training_loops.cache_clear()
