"""``rnnkit music train | eval | generate``: piano-roll models of polyphonic music (flags only)."""

from __future__ import annotations

import argparse

from rnnkit.cli.args import (
    add_train_flags,
    add_use_flags,
    fraction,
    lazy_handler,
    nonnegative_float,
    nonnegative_int,
    positive_int,
)

FORMATS = ("json-chorales", "mat", "midi", "musicxml")


def _add_reading(parser: argparse.ArgumentParser, split_default: str, for_training: bool) -> None:
    group = parser.add_argument_group("reading the music" if for_training else
                                      "reading the music (default: as the run's training data was read)")
    group.add_argument("--format", choices=FORMATS, help="file format (default: from the extension: .json, .mat, "
                       ".mid/.midi, .xml/.mxl/.musicxml; a folder is searched for MIDI and MusicXML files)")
    group.add_argument("--split", choices=("train", "valid", "test"),
                       help=f"the part of a json-chorales or mat file to read (default: {split_default})")
    group.add_argument("--resolution", metavar="NOTE", help="MIDI and MusicXML: one frame per this note value: "
                       "quarter, eighth, 16th, 1/8, 1/12 (triplets) or a length in quarter notes "
                       "(default: quarter)")


def register(tasks) -> None:
    music = tasks.add_parser("music", help="polyphonic music (one-to-many): train, eval, generate",
                             description="Piano-roll models: 88-key frames, the next frame's keys predicted from "
                             "the frames so far, new pieces drawn frame by frame.")
    verbs = music.add_subparsers(dest="verb", metavar="VERB", required=True)

    from rnnkit.tasks.music import MODEL_DEFAULTS, MUSIC_TRAIN_DEFAULTS

    d = MODEL_DEFAULTS
    train = verbs.add_parser("train", help="train a piano-roll model",
                             description="Train a next-frame model of piano rolls. With no --data it trains on "
                             "the Bach chorales in music21's corpus (no download). A json-chorales or mat file "
                             "trains on its train part and validates on its valid part.")
    add_train_flags(train, MUSIC_TRAIN_DEFAULTS, d)
    _add_reading(train, "train", True)
    train.add_argument("--valid-fraction", type=fraction, help="MIDI and MusicXML without --valid: the part of "
                       "--data held out at random for validation (default: 0.1)")
    model = train.add_argument_group("piano-roll model")
    model.add_argument("--input-dropout", type=fraction, metavar="P", help="while training, silence each key of "
                       f"the input frames with probability P (default: {d['input_dropout']})")
    model.add_argument("--transpose", type=nonnegative_int, metavar="K", help="while training, move each piece "
                       "by a random number of semitones in [-K, K] (default: 0)")
    train.set_defaults(handler=lazy_handler("rnnkit.cli.music_use", "train"))

    evaluate = verbs.add_parser("eval", help="negative log-likelihood per frame and frame accuracy",
                                description="Score a run on pieces: the negative log-likelihood per frame (nats, "
                                "summed over the 88 keys, every frame but each piece's first), the frame "
                                "accuracy TP / (TP + FP + FN) of the most likely next frame, and the "
                                "independent-Bernoulli baseline beside them.")
    evaluate.add_argument("run", metavar="RUN", help="run directory written by 'rnnkit music train'")
    evaluate.add_argument("--data", nargs="+", metavar="FILE", help="music file(s) or folder(s) (default, for a "
                          "run trained on the default corpus: its test part)")
    _add_reading(evaluate, "test", False)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    _add_use_flags(evaluate)
    evaluate.set_defaults(handler=lazy_handler("rnnkit.cli.music_use", "evaluate"))

    generate = verbs.add_parser("generate", help="draw new pieces: MIDI files and piano-roll pictures",
                                description="Draw pieces frame by frame, each key on with probability "
                                "σ(z / temperature); write DIR/piece-N.mid and DIR/piece-N.png and one JSON "
                                "line per piece.")
    generate.add_argument("run", metavar="RUN", help="run directory written by 'rnnkit music train'")
    generate.add_argument("--out", required=True, metavar="DIR", help="folder for the MIDI files and pictures")
    generate.add_argument("--num", type=positive_int, default=1, help="pieces to draw (default: 1)")
    generate.add_argument("--length", type=positive_int, default=64, metavar="FRAMES",
                          help="frames per piece, the primer's included (default: 64)")
    generate.add_argument("--primer", metavar="FILE", help="start every piece with this piece's frames "
                          "(MIDI, MusicXML, or the first piece of a json-chorales or mat file's --split part)")
    generate.add_argument("--temperature", type=nonnegative_float, default=1.0,
                          help="0 takes the most likely keys; above 1 is wilder (default: 1.0)")
    generate.add_argument("--max-polyphony", type=positive_int, metavar="K",
                          help="keep at most the K most probable of the keys drawn in a frame")
    generate.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    generate.add_argument("--bpm", type=positive_int, default=80, help="tempo of the MIDI files in quarter notes "
                          "per minute (default: 80)")
    _add_reading(generate, "train", False)
    add_use_flags(generate)
    generate.set_defaults(handler=lazy_handler("rnnkit.cli.music_use", "generate"))


def _add_use_flags(parser: argparse.ArgumentParser) -> None:
    add_use_flags(parser)
    parser.add_argument("--batch-size", type=positive_int, default=32, help="pieces per batch (default: 32)")
