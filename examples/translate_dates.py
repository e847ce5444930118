"""Human-readable dates → ISO 8601 with attention: the classic exercise, end to end, with its attention picture.

Generates pairs with Babel in 8 locales and 35 formats (``examples/dates_data.py``): 20,000 training pairs,
1,000 validation and 2,000 test pairs whose *dates* never occur in training. One format in ten (locale and
pattern, chosen with the seed) is also held out of training and validation altogether, so the test set has a
part written in formats the model has never seen. Trains ``rnnkit translate train --level char`` for at most
``--minutes`` (10), scores the held-out dates by exact match (seen and unseen formats apart), and draws the
attention of a few test dates.

    python examples/translate_dates.py [--out runs/dates] [--minutes 10] [--picture docs/translate-dates.png]
                                       [extra train flags, e.g. --level subword]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import shutil
from pathlib import Path

from _common import rnnkit, sibling


def _dates_data():
    return sibling("dates_data")


def make_data(out: Path, seed: int = 0, unseen_share: float = 0.1) -> dict[str, Path]:
    """train / valid / test (all formats) / test-seen-formats / test-unseen-formats tsv files in ``out``."""
    dd = _dates_data()
    styles = sorted({(s.locale, s.format) for s in dd.styles()})
    held = set(random.Random(f"unseen:{seed}").sample(styles, max(1, round(unseen_share * len(styles)))))
    splits = dd.make_split_examples(22_000, 1_100, 2_000, seed)
    seen = lambda e: (e.locale, e.format) not in held
    parts = {"train": [e for e in splits["train"] if seen(e)][:20_000],
             "valid": [e for e in splits["valid"] if seen(e)][:1_000],
             "test": splits["test"],
             "test-seen-formats": [e for e in splits["test"] if seen(e)],
             "test-unseen-formats": [e for e in splits["test"] if not seen(e)]}
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, examples in parts.items():
        paths[name] = out / f"{name}.tsv"
        dd.write_tsv([(e.text, e.iso) for e in examples], paths[name])
    return paths


def _eval(run: Path, data: Path, beam: int) -> dict:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rnnkit("translate", "eval", run, "--data", data, "--beam", beam, "--json")
    return json.loads(buf.getvalue().strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/dates")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--picture", help="also copy one attention picture here")
    args, extra = parser.parse_known_args()
    out = Path(args.out)
    paths = make_data(out / "data")
    run = out / "run"
    rnnkit("translate", "train", "--data", paths["train"], "--valid", paths["valid"], "--out", run, "--level",
           "char", "--time-limit", args.minutes, "--quiet", *extra)
    print(f"\n{'held-out dates':<24} {'pairs':>5} {'greedy':>8} {'beam 5':>8}   (exact match)")
    results = {}
    for name in ("test", "test-seen-formats", "test-unseen-formats"):
        g, b = _eval(run, paths[name], 1), _eval(run, paths[name], 5)
        results[name] = {"pairs": b["pairs"], "greedy": g["exact_match"], "beam5": b["exact_match"]}
        print(f"{name:<24} {b['pairs']:5d} {g['exact_match']:8.4f} {b['exact_match']:8.4f}")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    sources = out / "show.txt"
    sources.write_text("Tuesday, March 5, 1996\nle 14 juillet 1989\n05.03.96\nSAMSTAG, 1. JANUAR 2000\n",
                       encoding="utf-8")
    rnnkit("translate", "predict", run, sources, "--format", "text", "--attention-png", out / "attention")
    if args.picture:
        shutil.copyfile(out / "attention" / "attention-1.png", args.picture)
        print(f"attention picture: {args.picture}")


if __name__ == "__main__":
    main()
