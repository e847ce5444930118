"""Spoken digits with CTC on the Free Spoken Digit Dataset, scored on speakers never heard in training.

Two worked examples, one command each:

``isolated``: leave-one-speaker-out over the five speakers of ``../shared/data/fsdd`` (or those given with
``--speakers``): for each, ``examples/digits_data.py`` writes manifests (the speaker's 500 recordings are the
test set; the others' are split 90/10 into training and validation), ``rnnkit speech train`` trains with its
defaults, and ``rnnkit speech eval`` scores the test speaker: with its defaults (prefix beam search held to the
training words, which ``--lexicon auto`` finds to be a closed vocabulary) and with plain greedy decoding
(``--lexicon none``). Prints word accuracy (1 − WER) per speaker and their mean.

``connected``: digit strings of 2–7 digits (``seven three one``) joined from the recordings with silences of
random length, random gain and background noise (``digits_data.py connected``: 3,000 training and 300
validation strings from four speakers, 500 test strings from the fifth), trained and scored the same way.

    python examples/speech_digits.py isolated [--out runs/digits] [--speakers theo …] [extra train flags]
    python examples/speech_digits.py connected [--out runs/digits] [--test-speaker theo] [extra train flags]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

from _common import data_file, rnnkit, sibling


def _digits_data():
    return sibling("digits_data")


def _eval(run: Path, data: Path, *flags) -> dict:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rnnkit("speech", "eval", run, "--data", data, "--json", *flags)
    return json.loads(buf.getvalue().strip().splitlines()[-1])


def train_and_score(paths: dict, run: Path, extra: list[str]) -> dict:
    rnnkit("speech", "train", "--data", paths["train"], "--valid", paths["valid"], "--out", run, "--quiet", *extra)
    greedy, lexicon = _eval(run, paths["test"], "--lexicon", "none"), _eval(run, paths["test"])
    state = json.loads((run / "state.json").read_text())
    return {"greedy_wer": greedy["wer"], "greedy_cer": greedy["cer"], "lexicon_wer": lexicon["wer"],
            "lexicon_cer": lexicon["cer"], "utterances": greedy["utterances"], "steps": state.get("step"),
            "real_time_factor": greedy["real_time_factor"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("isolated", "connected"))
    parser.add_argument("--out", default="runs/digits")
    parser.add_argument("--speakers", nargs="+", help="isolated: the speakers to leave out in turn (default: all)")
    parser.add_argument("--test-speaker", default="theo", help="connected: the speaker of the test strings")
    args, extra = parser.parse_known_args()
    digits = _digits_data()
    root = data_file("fsdd", "recordings")
    out = Path(args.out) / args.mode
    results = {}
    if args.mode == "isolated":
        for speaker in args.speakers or digits.speakers(root):
            paths = digits.isolated_manifests(root, out / speaker / "data", speaker)
            results[speaker] = train_and_score(paths, out / speaker / "run", extra)
    else:
        paths = digits.connected_manifests(root, out / "data", args.test_speaker)
        results[args.test_speaker] = train_and_score(paths, out / "run", extra)
    print(f"\n{args.mode} digits, test speaker never heard in training")
    print(f"{'speaker':<10} {'recordings':>10} {'greedy WER':>11} {'default WER':>12} {'word accuracy':>14}")
    for speaker, r in results.items():
        print(f"{speaker:<10} {r['utterances']:10d} {r['greedy_wer']:11.4f} {r['lexicon_wer']:12.4f} "
              f"{1 - r['lexicon_wer']:14.4f}")
    if len(results) > 1:
        mean = {k: sum(r[k] for r in results.values()) / len(results) for k in ("greedy_wer", "lexicon_wer")}
        print(f"{'mean':<10} {'':>10} {mean['greedy_wer']:11.4f} {mean['lexicon_wer']:12.4f} "
              f"{1 - mean['lexicon_wer']:14.4f}")
    (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
