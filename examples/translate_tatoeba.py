"""French → English on the Tatoeba pairs, beside the plain-PyTorch tutorial recipe given the same time.

Splits ``../shared/data/tatoeba_fra_eng/fra.txt`` (``English<TAB>French``) at random (seed 0) into 2,000 test
pairs, 2,000 validation pairs and the rest for training; trains ``rnnkit translate train`` with its defaults
(``--source-column 2 --target-column 1``; ``--time-limit`` guards the budget), scores the test pairs — never
seen in training — with greedy decoding and beam search (beam 5) by sacrebleu's corpus BLEU and chrF; then
trains the PyTorch tutorial's GRU encoder–decoder with Bahdanau attention (``benchmarks/translate_peer.py``) on
the same training pairs, cut into the same subword ids, for the wall-clock time rnnkit took, and scores it the
same way (greedy, as the tutorial decodes).

    python examples/translate_tatoeba.py [--out runs/tatoeba] [--minutes 30] [--no-peer] [extra train flags]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import sys
import time
from pathlib import Path

import torch
from _common import data_file, rnnkit

ROOT = Path(__file__).resolve().parents[1]


def split(out: Path, n_test: int = 2000, n_valid: int = 2000, seed: int = 0) -> dict[str, Path]:
    lines = [line for line in data_file("tatoeba_fra_eng", "fra.txt").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    random.Random(seed).shuffle(lines)
    parts = {"test": lines[:n_test], "valid": lines[n_test:n_test + n_valid], "train": lines[n_test + n_valid:]}
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, rows in parts.items():
        paths[name] = out / f"{name}.tsv"
        paths[name].write_text("\n".join(rows) + "\n", encoding="utf-8")
    return paths


def evaluate(run: Path, test: Path, beam: int) -> dict:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rnnkit("translate", "eval", run, "--data", test, "--beam", beam, "--json")
    print(buf.getvalue().splitlines()[-2])
    return json.loads(buf.getvalue().strip().splitlines()[-1])


def peer_scores(run: Path, paths: dict[str, Path], budget_s: float, seed: int = 0) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from translate_peer import train_peer, translate_peer

    from rnnkit.metrics.translation import corpus_scores
    from rnnkit.tasks import translate as task

    loaded = task.load_run(run)
    enc = loaded.encoder
    read = lambda p: task.read_for(loaded, [p], argparse.Namespace(), require_target=True)
    train_pairs = [(enc.source_ids(p.source).tolist(), enc.target_ids(p.target)[:-1].tolist())
                   for p in read(paths["train"])]
    test = read(paths["test"])
    eos, bos = enc.target_vocab.eos_id, enc.target_vocab.unk_id      # <UNK> never starts a target: the peer's BOS
    start = time.time()
    peer = train_peer(train_pairs, len(enc.source_vocab), len(enc.target_vocab), bos, eos, budget_s, seed)
    minutes = (time.time() - start) / 60
    hyps = translate_peer(peer, [enc.source_ids(p.source).tolist() for p in test], max_len=lambda n: 2 * n + 10)
    scores = corpus_scores([enc.text(h) for h in hyps], [p.target for p in test])
    return {**scores, "minutes": minutes, "steps": peer.steps, "epochs": peer.epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/tatoeba")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget of each system")
    parser.add_argument("--no-peer", action="store_true", help="skip the plain-PyTorch recipe")
    args, extra = parser.parse_known_args()
    out = Path(args.out)
    paths = split(out)
    run = out / "run"
    start = time.time()
    rnnkit("translate", "train", "--data", paths["train"], "--valid", paths["valid"], "--source-column", "2",
           "--target-column", "1", "--out", run, "--time-limit", args.minutes, "--quiet", *extra)
    train_s = time.time() - start
    greedy, beam = evaluate(run, paths["test"], 1), evaluate(run, paths["test"], 5)
    rows = {"rnnkit (greedy)": {**greedy, "minutes": train_s / 60},
            "rnnkit (beam 5)": {**beam, "minutes": train_s / 60}}
    if not args.no_peer:
        rows["tutorial recipe (greedy)"] = peer_scores(run, paths, train_s)
    print(f"\nFrench → English, {paths['test']} (2,000 pairs never seen in training); torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'system':<26} {'BLEU':>6} {'chrF':>6} {'exact':>6} {'train min':>9}")
    for name, r in rows.items():
        print(f"{name:<26} {r['bleu']:6.2f} {r['chrf']:6.2f} {r['exact_match']:6.3f} {r['minutes']:9.1f}")
    (out / "results.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
