"""Speech recognition benchmarks on the Free Spoken Digit Dataset: unseen-speaker accuracy, training speed against
the plain-PyTorch peer, and the real-time factor of transcription.

    python benchmarks/speech_quality.py [--only isolated connected speed] [--out benchmarks/out/speech]

``isolated`` and ``connected`` run ``examples/speech_digits.py`` (their tables are printed; isolated trains
five models, leave-one-speaker-out). ``speed`` trains rnnkit's ``CTCRecognizer`` with the ``speech train``
defaults and the peer (``benchmarks/speech_peer.py``: ``torch.nn.LSTM`` over packed sequences, the same
size, fed the same stacked frames) on the same batches, in turns, and prints utterances/s of each and their
ratio; then transcribes the 500 test recordings of one speaker (front end, model and greedy decoding) and
prints seconds of compute per second of audio. The CPU model is printed with every table.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from _common import cpu_model

ROOT = Path(__file__).resolve().parents[1]
FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"


def _speed_batches(manifests: Path, n_batches: int = 24):
    """Batches of the training manifest's recordings as the trainer makes them (no augmentation: both models
    get identical inputs)."""
    from rnnkit.tasks import speech as task
    from rnnkit.tasks.speech_data import Units

    utts = task.read_manifest(manifests / "train.tsv")[:24 * 32]
    opts = dict(task.DATA_DEFAULTS)
    fe = task.FrontEnd(task.front_end_config(opts, 8000)).eval()
    units = Units.build([u.transcript for u in utts], opts["units"])
    data = task.encode_utterances(utts, task.load_waves(utts, 8000), units)
    batches = task.SpeechBatches(data, task.Features(fe, task.Normalizer(opts["normalize"])), 32, shuffle=True,
                                 seed=1)
    out = []
    for k, batch in enumerate(batches.iter_from(0, 0)):
        if k >= n_batches:
            break
        out.append(batch)
    return out, fe.config.num_features, len(units.symbols)


def training_speed(manifests: Path, steps: int = 60, rounds: int = 3) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from speech_peer import PeerCTC
    from speech_peer import train_steps as peer_steps

    from rnnkit.models import CTCRecognizer
    from rnnkit.tasks import speech as task

    batches, F, C = _speed_batches(manifests)
    m = task.MODEL_DEFAULTS
    torch.manual_seed(0)
    ours = CTCRecognizer(F, C, hidden_size=m["hidden"], num_layers=m["layers"], cell=m["cell"],
                         bidirectional=m["bidirectional"], subsampling=m["subsampling"], stride=m["stride"],
                         dropout=0.0)
    peer = PeerCTC(F * ours.config.stride, m["hidden"], m["layers"], C)
    peer_batches = []
    for b in batches:          # the same stacked frames the recogniser's RNN reads
        stacked = ours.subsample(b.inputs, b.lengths).detach()
        t_len = b.extra["target_lengths"]
        flat = torch.cat([b.targets[i, :int(t_len[i])] for i in range(len(b))])
        peer_batches.append((stacked, ours.output_lengths(b.lengths), flat, t_len))

    def ours_steps(n: int) -> float:
        opt = torch.optim.Adam(ours.parameters(), lr=1e-3)
        ours.train()
        start, count = time.perf_counter(), 0
        for step in range(n):
            b = batches[step % len(batches)]
            lp, frames = ours(b.inputs, b.lengths)
            t_len = b.extra["target_lengths"]
            loss = (task.ctc_losses(lp, frames, b.targets, t_len) / t_len).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            count += len(b)
        return count / (time.perf_counter() - start)

    ours_steps(5)
    peer_steps(peer, peer_batches, 5)                                    # warm up both
    mine, theirs = [], []
    for _ in range(rounds):
        mine.append(ours_steps(steps))
        theirs.append(peer_steps(peer, peer_batches, steps)["utterances_per_s"])
    return {"rnnkit": statistics.median(mine), "peer": statistics.median(theirs),
            "ratio": statistics.median(a / b for a, b in zip(mine, theirs))}


def real_time_factor(run: Path, manifest: Path) -> dict:
    from rnnkit.tasks import speech as task

    loaded = task.load_run(run)
    batches = task.data_for(loaded, task.read_for(loaded, [manifest], argparse.Namespace(), True))
    audio = sum(len(w) for w in batches.data.waves) / loaded.rate
    out = {"audio_seconds": audio}
    lexicon = sorted(loaded.words) if loaded.closed_vocabulary else None
    for name, how in (("greedy", task.Decoding()), ("lexicon", task.Decoding(beam=8, words=lexicon))):
        start = time.perf_counter()
        task.transcribe_batches(loaded.model, batches, loaded.units, how)
        out[name] = (time.perf_counter() - start) / audio
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=("isolated", "connected", "speed"),
                        default=["isolated", "connected", "speed"])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "speech"))
    args = parser.parse_args()
    out = Path(args.out)
    for mode in ("isolated", "connected"):
        if mode in args.only:
            subprocess.run([sys.executable, str(ROOT / "examples" / "speech_digits.py"), mode, "--out", str(out)],
                           check=True)
    if "speed" in args.only:
        sys.path.insert(0, str(ROOT / "examples"))
        import digits_data

        manifests = out / "speed-data"
        digits_data.isolated_manifests(FSDD, manifests, "theo")
        r = training_speed(manifests)
        print(f"\nCPU: {cpu_model()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
        print(f"training, FSDD batches of 32, defaults: rnnkit {r['rnnkit']:.0f} utterances/s, torch.nn.LSTM "
              f"packed peer {r['peer']:.0f} utterances/s, ratio {r['ratio']:.2f}× (bar ≥ 1.0, aim ≥ 1.5)")
        runs = sorted((out / "isolated").glob("*/run/config.json"))
        if runs:
            run = runs[0].parent
            t = real_time_factor(run, run.parent / "data" / "test.tsv")
            print(f"transcription (front end, model, decoding) of {t['audio_seconds']:.0f} s of audio, real-time "
                  f"factor: greedy {t['greedy']:.4f}, beam 8 held to the training words (the default here) "
                  f"{t['lexicon']:.4f} (bar ≤ 0.05, aim ≤ 0.01)")
        else:
            print(f"(no run under {out / 'isolated'}: run --only isolated first for the real-time factor)")


if __name__ == "__main__":
    main()
