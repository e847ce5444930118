"""Translation targets: dates → ISO in ≤ 10 minutes, Tatoeba French → English in ≤ 30 minutes beside the
plain-PyTorch tutorial recipe, the BLEU gain of beam search, and batched beam search's speed.

    python benchmarks/translate_quality.py [--only dates tatoeba speed] [--out benchmarks/out/translate]

``dates`` runs ``examples/translate_dates.py``, ``tatoeba`` runs ``examples/translate_tatoeba.py`` (both print
their tables; the Tatoeba one takes about an hour: 30 minutes for each system). ``speed`` decodes 256 test
sentences of the Tatoeba run with beam 5, batched (64 sentences at a time) and one sentence at a time, and
prints sentences/s of each and their ratio, with the CPU model.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch
from _common import cpu_model

ROOT = Path(__file__).resolve().parents[1]


def decoding_speed(run: Path, data: Path, n: int = 256, beam: int = 5) -> dict:
    from rnnkit.data.examples import pad_sequences
    from rnnkit.tasks import translate as task

    loaded = task.load_run(run)
    pairs = task.read_for(loaded, [data], argparse.Namespace(), require_target=True)[:n]
    sources = [loaded.encoder.source_ids(p.source) for p in pairs]
    model = loaded.model

    def run_batches(size: int) -> float:
        start = time.perf_counter()
        for i in range(0, len(sources), size):
            src, lengths = pad_sequences(sources[i:i + size])
            model.beam_search(src, lengths, beam_size=beam)
        return len(sources) / (time.perf_counter() - start)

    run_batches(64)                                                       # warm up
    batched = max(run_batches(64) for _ in range(2))
    single = run_batches(1)
    return {"batched": batched, "single": single, "ratio": batched / single, "sentences": len(sources)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=("dates", "tatoeba", "speed"),
                        default=["dates", "tatoeba", "speed"])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "translate"))
    args = parser.parse_args()
    out = Path(args.out)
    if "dates" in args.only:
        subprocess.run([sys.executable, str(ROOT / "examples" / "translate_dates.py"), "--out", str(out / "dates")],
                       check=True)
    if "tatoeba" in args.only:
        subprocess.run([sys.executable, str(ROOT / "examples" / "translate_tatoeba.py"), "--out",
                        str(out / "tatoeba")], check=True)
    if "speed" in args.only:
        run = out / "tatoeba" / "run"
        if not (run / "config.json").exists():
            raise SystemExit(f"{run} is missing: run with --only tatoeba first")
        r = decoding_speed(run, out / "tatoeba" / "test.tsv")
        print(f"\nCPU: {cpu_model()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
        print(f"beam 5 on {r['sentences']} Tatoeba test sentences: batched (64) {r['batched']:.1f} sentences/s, "
              f"one at a time {r['single']:.1f} sentences/s, ratio {r['ratio']:.1f}× (bar ≥ 5×)")


if __name__ == "__main__":
    main()
