"""Speech recognition scores: corpus word and character error rates from jiwer.

For hypotheses against one reference each, with S substitutions, D deletions and I insertions of the best
(Levenshtein) alignment of each pair, summed over the corpus, and N the reference words (or characters)::

    WER = (S + D + I) / N_words        CER = (S + D + I) / N_chars

that is, total edits over total reference length, not a mean of per-utterance rates (jiwer's figure for
lists). Words are split at spaces and characters include the spaces between words, after jiwer's default
clean-up (surrounding white space stripped; for words, runs of spaces merged).

Edge cases, handled here whatever jiwer's version does with them:

* an empty hypothesis (or only white space) is all deletions: it adds its reference's length to the edits;
* an empty reference is all insertions: it adds the hypothesis's length to the edits and nothing to N;
* if the whole corpus has N = 0 (every reference empty, or no utterances), the rate is 0.0 when there are no
  edits either and ``inf`` otherwise (every inserted word is an error, relative to nothing).

Example::

    >>> r = error_rates(["seven one"], ["seven three one"])
    >>> round(r["wer"], 4), r["words"], r["chars"]
    (0.3333, 3, 15)
"""

from __future__ import annotations

from typing import Sequence

from rnnkit.errors import RnnkitError
from rnnkit.metrics.classification import MetricsError


def _import_jiwer():
    try:
        import jiwer
    except ImportError:
        raise RnnkitError("word and character error rates need jiwer: pip install 'rnnkit[speech]'") from None
    return jiwer


def _edits(process, tokens, hypotheses: Sequence[str], references: Sequence[str]) -> tuple[int, int]:
    """(S + D + I, N) over the corpus: jiwer's ``process`` for the pairs where both sides have tokens, the
    length of the non-empty side for the others (``tokens``: jiwer's own default split, so N agrees)."""
    edits = length = 0
    pairs = []
    for hyp, ref in zip(hypotheses, references):
        n_hyp, n_ref = len(tokens(hyp)[0]), len(tokens(ref)[0])
        if n_hyp and n_ref:
            pairs.append((hyp, ref))
        else:  # all deletions (empty hypothesis) or all insertions (empty reference)
            edits += n_hyp + n_ref
            length += n_ref
    if pairs:
        out = process([ref for _, ref in pairs], [hyp for hyp, _ in pairs])
        edits += out.substitutions + out.deletions + out.insertions
        length += out.hits + out.substitutions + out.deletions
    return edits, length


def _rate(edits: int, length: int) -> float:
    if length == 0:
        return 0.0 if edits == 0 else float("inf")
    return edits / length


def error_rates(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """``{"wer", "cer", "words", "chars", "word_edits", "char_edits"}``: corpus WER and CER (≥ 0, above 1 when
    insertions outnumber the reference), the reference word and character counts N, and the edits S + D + I."""
    jiwer = _import_jiwer()
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise MetricsError(f"{len(hypotheses)} hypotheses for {len(references)} references: give one "
                           "hypothesis per reference")
    word_edits, words = _edits(jiwer.process_words, jiwer.wer_default, hypotheses, references)
    char_edits, chars = _edits(jiwer.process_characters, jiwer.cer_default, hypotheses, references)
    return {"wer": _rate(word_edits, words), "cer": _rate(char_edits, chars), "words": words, "chars": chars,
            "word_edits": word_edits, "char_edits": char_edits}


def plot_alignment(features, log_probs, symbols: Sequence[str], words: list[dict], frame_seconds: float,
                   feature_seconds: float, path, title: str | None = None) -> bool:
    """Draw what the recogniser heard and said: the features (T, F) as an image over time, and below it each
    symbol's per-frame probability ŷ<t'> (T', C) — CTC's spikes, with the blank shaded — and the words at their
    aligned times. Returns False when matplotlib is not installed."""
    import numpy as np

    from rnnkit.metrics.figures import pyplot, save_png

    plt = pyplot()
    if plt is None:
        return False

    feats = np.asarray(features, dtype=np.float64)
    probs = np.exp(np.asarray(log_probs, dtype=np.float64))
    T, Tp = feats.shape[0], probs.shape[0]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(min(16.0, max(7.0, 0.05 * T + 4)), 6.0), sharex=True,
                                      gridspec_kw={"height_ratios": [1.2, 1]})
    top.imshow(feats.T, origin="lower", aspect="auto", cmap="magma",
               extent=(0, T * feature_seconds, 0, feats.shape[1]))
    top.set_ylabel("feature")
    top.set_title(title or "features and CTC posteriors", fontsize=10)
    t = (np.arange(Tp) + 0.5) * frame_seconds
    bottom.fill_between(t, probs[:, 0], color="lightgray", label="blank", step="mid")
    shown = sorted((c for c in np.argsort(-probs[:, 1:].max(0))[:14] + 1 if probs[:, c].max() > 0.05),
                   key=lambda c: symbols[c])
    for c in shown:
        bottom.plot(t, probs[:, c], label=_symbol(symbols[c]), linewidth=1.5, drawstyle="steps-mid")
    for w in words:
        bottom.axvspan(w["start"], w["end"], color="tab:blue", alpha=0.08)
        bottom.text((w["start"] + w["end"]) / 2, 1.03, w["word"], ha="center", va="bottom", fontsize=9)
    bottom.set_ylim(0, 1.12)
    bottom.set_xlim(0, max(T * feature_seconds, Tp * frame_seconds))
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("P(symbol)")
    bottom.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), fontsize=8, ncol=min(len(shown) + 1, 15),
                  frameon=False)
    fig.tight_layout()
    save_png(fig, path)
    return True


def _symbol(s: str) -> str:
    return "␣" if s == " " else s
