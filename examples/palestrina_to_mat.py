"""A sister benchmark for the music defaults: Palestrina's polyphony from music21's corpus, in the ``mat`` layout.

The polyphonic-music benchmarks (JSB Chorales, Nottingham, MuseData, Piano-midi.de) share one MATLAB layout;
this script makes one more in it from music that needs no download: a seeded random choice of ``--pieces`` of
the 1,318 Palestrina movements (Humdrum files) music21 ships, read as piano rolls at one frame per half note
(Palestrina's beat, as JSB's is the quarter note), split 60 / 20 / 20 into ``traindata``, ``validdata`` and
``testdata``. Parsing takes about a second a piece.

    python examples/palestrina_to_mat.py --out runs/palestrina.mat [--pieces 300] [--resolution half]
"""

from __future__ import annotations

import argparse

import numpy as np

from rnnkit.data.formats.music import parse_resolution, roll_from_score

SEED = 0


def choose(paths: list, n: int) -> list:
    """``n`` of ``paths`` (sorted by name first), drawn with a fixed seed."""
    paths = sorted(paths, key=str)
    picked = np.random.default_rng(SEED).permutation(len(paths))[: min(n, len(paths))]
    return [paths[i] for i in sorted(picked)]


def split(items: list) -> dict[str, list]:
    order = np.random.default_rng(SEED + 1).permutation(len(items))
    a, b = int(0.6 * len(items)), int(0.8 * len(items))
    return {"train": [items[i] for i in order[:a]], "valid": [items[i] for i in order[a:b]],
            "test": [items[i] for i in order[b:]]}


def cells(rolls: list[np.ndarray]) -> np.ndarray:
    out = np.empty((1, len(rolls)), dtype=object)
    for i, r in enumerate(rolls):
        out[0, i] = r.astype(np.uint8)
    return out


def main() -> None:
    from music21 import corpus
    from scipy.io import savemat

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the .mat file to write")
    parser.add_argument("--pieces", type=int, default=300)
    parser.add_argument("--resolution", default="half")
    args = parser.parse_args()
    resolution = parse_resolution(args.resolution)
    paths = choose(corpus.getComposer("palestrina"), args.pieces)
    rolls = []
    for k, path in enumerate(paths, 1):
        rolls.append(roll_from_score(corpus.parse(path), str(path), resolution).roll)
        if k % 50 == 0:
            print(f"{k}/{len(paths)} pieces read", flush=True)
    parts = split(rolls)
    savemat(args.out, {f"{name}data": cells(part) for name, part in parts.items()})
    frames = {name: sum(len(r) for r in part) for name, part in parts.items()}
    print(f"{args.out}: " + ", ".join(f"{name} {len(parts[name])} pieces ({frames[name]:,} frames)"
                                      for name in parts))


if __name__ == "__main__":
    main()
