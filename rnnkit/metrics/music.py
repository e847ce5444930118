"""Scores of piano-roll models, and the picture of a piano roll.

- :func:`frame_accuracy`: Bay et al. (2009)'s frame-level accuracy, ``TP / (TP + FP + FN)`` summed over every
  scored frame (a frame where nothing sounds and nothing is predicted adds nothing);
- :func:`bernoulli_nll`: the baseline every result is printed beside: each key an independent Bernoulli with
  its frequency in the training frames, scored as the models are (nats per frame, summed over keys);
- :func:`plot_piano_roll`: time across, pitch up, the keys labelled (C of every octave, black keys shaded).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from rnnkit.data.formats.music import LOWEST

NAMES = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")


def frame_counts(predicted: np.ndarray, target: np.ndarray) -> tuple[int, int, int]:
    """(TP, FP, FN) of boolean frames (..., 88)."""
    predicted, target = np.asarray(predicted, bool), np.asarray(target, bool)
    return (int((predicted & target).sum()), int((predicted & ~target).sum()), int((~predicted & target).sum()))


def frame_accuracy(tp: int, fp: int, fn: int) -> float:
    """``TP / (TP + FP + FN)`` (1.0 when there is nothing to find and nothing is found)."""
    total = tp + fp + fn
    return tp / total if total else 1.0


def key_frequencies(rolls, floor: float = 1e-4) -> np.ndarray:
    """Each key's fraction of sounding frames over ``rolls`` (a list of (T, 88)), kept in [floor, 1 − floor]
    so that a key never heard in training costs a finite amount."""
    frames = np.concatenate([np.asarray(r, bool) for r in rolls])
    return np.clip(frames.mean(axis=0), floor, 1 - floor)


def bernoulli_nll(frequencies: np.ndarray, rolls, skip_first: bool = True) -> float:
    """Nats per frame (summed over keys) of independent Bernoulli keys with probabilities ``frequencies``,
    over every frame of ``rolls`` but the first of each piece (as the models are scored)."""
    p = np.asarray(frequencies, dtype=np.float64)
    on, off = -np.log(p), -np.log1p(-p)
    total, count = 0.0, 0
    for r in rolls:
        r = np.asarray(r, bool)[1 if skip_first else 0:]
        total += float((r * on + ~r * off).sum())
        count += len(r)
    return total / max(count, 1)


def note_name(midi: int) -> str:
    return f"{NAMES[midi % 12]}{midi // 12 - 1}"


def plot_piano_roll(roll: np.ndarray, path: str | Path, title: str = "", resolution: float = 1.0,
                    primer: int = 0) -> bool:
    """Draw a (T, 88) roll into ``path`` (PNG): time across (in beats of ``resolution`` quarter notes per
    frame), pitch up over the octaves the piece uses, every C labelled, black-key rows shaded. ``primer``
    frames at the start are marked as given. False, with a warning, if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn("matplotlib is not installed, so no piano-roll PNG: pip install 'rnnkit[plot]'", stacklevel=2)
        return False
    roll = np.asarray(roll, bool)
    T = len(roll)
    used = np.flatnonzero(roll.any(axis=0)) + LOWEST
    low, high = (int(used.min()), int(used.max())) if len(used) else (60, 72)
    low, high = max(LOWEST, 12 * (low // 12) - 1), min(LOWEST + 87, 12 * (high // 12 + 1))   # whole octaves
    pitches = np.arange(low, high + 1)
    width = float(np.clip(T * 0.09, 6, 18))
    fig, ax = plt.subplots(figsize=(width, max(3.0, 0.09 * len(pitches) + 1.4)), dpi=110, layout="constrained")
    for p in pitches:
        if p % 12 in (1, 3, 6, 8, 10):
            ax.axhspan(p - 0.5, p + 0.5, color="#eeeeee", zorder=0, lw=0)
        if p % 12 == 0:
            ax.axhline(p - 0.5, color="#bbbbbb", lw=0.6, zorder=1)
    image = np.ma.masked_where(~roll[:, pitches - LOWEST].T, np.ones((len(pitches), T)))
    ax.imshow(image, origin="lower", aspect="auto", cmap="Blues", vmin=0, vmax=1.2, interpolation="nearest",
              extent=(0, T * resolution, low - 0.5, high + 0.5), zorder=2)
    if primer:
        ax.axvspan(0, primer * resolution, color="#ffd27f", alpha=0.35, zorder=1, lw=0)
        ax.text(primer * resolution / 2, high + 0.5, "primer", ha="center", va="bottom", fontsize=8)
    ax.set_yticks([p for p in pitches if p % 12 == 0], [note_name(p) for p in pitches if p % 12 == 0])
    ax.set_xlim(0, max(T * resolution, resolution))
    ax.set_ylim(low - 0.5, high + 0.5)
    ax.set_xlabel("time (quarter notes)" + (f", one frame = {resolution:g} quarter note" if resolution != 1 else ""))
    ax.set_ylabel("pitch")
    if title:
        ax.set_title(title)
    fig.savefig(path)
    plt.close(fig)
    return True
