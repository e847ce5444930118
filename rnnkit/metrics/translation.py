"""Scores of translations (corpus BLEU and chrF from sacrebleu, exact match) and the attention picture.

BLEU and chrF are sacrebleu's, on detokenised text with its default tokenisation (``13a``), so the figures are
the ones the field reports; exact match is the fraction of outputs equal to their reference (after stripping).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def corpus_scores(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """``{"bleu", "chrf", "exact_match"}`` of hypotheses against one reference each (BLEU and chrF in 0–100,
    exact match in 0–1)."""
    try:
        import sacrebleu
    except ImportError:
        from rnnkit.errors import RnnkitError

        raise RnnkitError("BLEU and chrF need sacrebleu: pip install 'rnnkit[translate]'") from None
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    if not hypotheses:
        return {"bleu": float("nan"), "chrf": float("nan"), "exact_match": float("nan")}
    bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
    chrf = sacrebleu.corpus_chrf(hypotheses, [references]).score
    exact = float(np.mean([h.strip() == r.strip() for h, r in zip(hypotheses, references)]))
    return {"bleu": float(bleu), "chrf": float(chrf), "exact_match": exact}


def plot_attention(weights, source_tokens: list[str], target_tokens: list[str], path: str | Path,
                   title: str | None = None) -> bool:
    """Draw attention weights (T_y, T_x) as a heat map, source tokens across and target tokens down; returns
    False when matplotlib is not installed."""
    from rnnkit.metrics.figures import pyplot, save_png

    plt = pyplot()
    if plt is None:
        return False
    w = np.asarray(weights, dtype=np.float64)
    Ty, Tx = w.shape
    width = min(24.0, max(4.0, 0.32 * Tx + 2.0))
    height = min(24.0, max(3.0, 0.32 * Ty + 1.6))
    fig, ax = plt.subplots(figsize=(width, height))
    im = ax.imshow(w, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(Tx))
    ax.set_xticklabels([_shown(t) for t in source_tokens[:Tx]], rotation=90, fontsize=9)
    ax.set_yticks(range(Ty))
    ax.set_yticklabels([_shown(t) for t in target_tokens[:Ty]], fontsize=9)
    ax.set_xlabel("source")
    ax.set_ylabel("written")
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label="attention weight α<t,j>")
    if title:
        ax.set_title(title, fontsize=10, pad=12)
    fig.tight_layout()
    save_png(fig, path)
    return True


def _shown(token: str) -> str:
    return {" ": "␣", "\u2581": "␣"}.get(token, token.replace("\u2581", "_"))


__all__ = ["corpus_scores", "plot_attention"]
