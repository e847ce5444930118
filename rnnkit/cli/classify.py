"""``rnnkit classify train | eval | predict``: many-to-one sequence classification (flags only)."""

from __future__ import annotations

import argparse

from rnnkit.cli.args import add_train_flags, add_use_flags, fraction, lazy_handler, positive_int
from rnnkit.models.pooling import POOLINGS

FORMATS = ("csv", "tsv", "jsonl", "sst", "fasta", "npz", "ts")
_MODEL_HELP = {"cell": "lstm", "hidden": "128 (64 for feature data sets under 1,000 examples)",
               "layers": "1 (2 for feature data sets of 1,000 examples or more)",
               "dropout": "0.5 for words, 0.3 otherwise"}


def _column(text: str):
    """A header name, or a 1-based column number."""
    return int(text) if text.isdigit() else text


def _add_reading(parser: argparse.ArgumentParser, for_training: bool) -> None:
    group = parser.add_argument_group("reading the data" if for_training else
                                      "reading the data (default: as the run's training data was read)")
    group.add_argument("--format", choices=FORMATS, help="file format (default: guessed from the extension)")
    group.add_argument("--text-column", type=_column, metavar="NAME|N",
                       help="csv/tsv/jsonl: the column (header name or 1-based number) or key with the sequence")
    group.add_argument("--label-column", type=_column, metavar="NAME|N",
                       help="csv/tsv/jsonl: the column or key with the label")
    group.add_argument("--labels", dest="labels_file", metavar="FILE",
                       help="fasta: labels from a file of 'id<TAB>label' lines instead of the headers")


def register(tasks) -> None:
    classify = tasks.add_parser("classify", help="sequence classification (many-to-one): train, eval, predict",
                                description="Many-to-one: a whole sequence (text, DNA, sensor or skeleton "
                                "frames) → one class, or a set of labels.")
    verbs = classify.add_subparsers(dest="verb", metavar="VERB", required=True)

    from rnnkit.tasks.classify import CLASSIFY_TRAIN_DEFAULTS

    train = verbs.add_parser("train", help="train a classifier",
                             description="Train a recurrent classifier. Only --data (and --valid) are needed: "
                             "the model and training defaults adapt to the input (words, characters or bases, "
                             "feature vectors) by the rule in README.md.")
    add_train_flags(train, CLASSIFY_TRAIN_DEFAULTS, _MODEL_HELP)
    _add_reading(train, True)
    data = train.add_argument_group("tokens and labels")
    data.add_argument("--level", choices=("char", "word", "kmer"), help="text tokens (default: word)")
    data.add_argument("--k", type=positive_int, help="kmer level: k (default: 3)")
    data.add_argument("--lower", action="store_true", default=None, help="lower-case text before tokenizing")
    data.add_argument("--min-freq", type=positive_int, help="rarer tokens become <UNK> (default: 1)")
    data.add_argument("--max-vocab", type=positive_int, help="keep at most this many tokens")
    data.add_argument("--multi-label", action="store_true", default=None,
                      help="each example has a set of labels ('a|b' in a column, a list in jsonl): sigmoid outputs")
    data.add_argument("--valid-fraction", type=fraction, help="without --valid: the part of --data held out "
                      "at random for validation (default: 0.1)")
    model = train.add_argument_group("classifier")
    model.add_argument("--pooling", choices=POOLINGS, help="how a sequence's outputs become one vector: last "
                       "(final states), mean, max, attention (default: max for words, attention for characters and "
                       "k-mers, mean for features, max for feature data sets under 1,000 examples)")
    model.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                       help="read each sequence both ways (default: yes)")
    model.add_argument("--embedding", type=int, metavar="E", help="text: embedding size; 0 feeds one-hot "
                       "vectors, as in the notes (default: 128 for words, 32 for characters and k-mers)")
    model.add_argument("--embeddings", metavar="FILE", help="initialise word embeddings from a word2vec/GloVe "
                       "text file (give --embedding its dimension)")
    model.add_argument("--positions", type=int, metavar="N", help="text: add a learned vector per position to the "
                       "first N steps' inputs; 0 for none (default: the length, when every training sequence "
                       "has the same length at char or kmer level; else none)")
    model.add_argument("--input-noise", type=float, metavar="SIGMA", help="add Gaussian noise of this size to "
                       "the inputs while training (features: in standard deviations) (default: 0)")
    model.add_argument("--input-dropout", type=fraction, metavar="P", help="dropout on the inputs x<t> while "
                       "training: whole word vectors for text, single components for features (default: 0.3 "
                       "for words and for feature data sets under 1,000 examples, else 0)")
    model.add_argument("--time-warp", type=fraction, metavar="W", help="features: while training, play each "
                       "sequence at a random speed, its length scaled within [1 − W, 1/(1 − W)] (default: 0.1 for "
                       "feature data sets under 1,000 examples, else 0)")
    model.add_argument("--scale-jitter", type=float, metavar="S", help="features: while training, scale each "
                       "sequence's values about their mean by 1 + S·N(0, 1) (default: 0.3 for feature data sets "
                       "under 1,000 examples, else 0)")
    model.add_argument("--input-projection", type=positive_int, metavar="P",
                       help="features: a learned linear map to P components before the RNN")
    model.add_argument("--center-joint", type=positive_int, metavar="J", help="features as x, y, z per joint "
                       "(skeletons): subtract joint J's position (1-based) at every frame")
    model.add_argument("--deltas", action=argparse.BooleanOptionalAction, default=None,
                       help="features: append x<t> − x<t-1> (default: yes)")
    train.set_defaults(handler=lazy_handler("rnnkit.cli.classify_use", "train"))

    evaluate = verbs.add_parser("eval", help="accuracy, macro-F1, per-class table and confusion matrix",
                                description="Evaluate a classifier on a labelled file.")
    evaluate.add_argument("run", metavar="RUN", help="run directory written by 'rnnkit classify train'")
    evaluate.add_argument("--data", nargs="+", required=True, metavar="FILE", help="labelled file(s)")
    _add_reading(evaluate, False)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    evaluate.add_argument("--confusion-png", metavar="FILE",
                          help="draw the confusion matrix here (default: RUN/confusion-<data file>.png)")
    _add_use_flags(evaluate)
    evaluate.set_defaults(handler=lazy_handler("rnnkit.cli.classify_use", "evaluate"))

    predict = verbs.add_parser("predict", help="predict labels: one JSON line per example",
                               description="Predict the label of every example of FILE(s), or of each line of "
                               "standard input ('-' or no FILE: one text per line). Writes one JSON object per "
                               'example: {"label": …, "probabilities": {label: p, …}}.')
    predict.add_argument("run", metavar="RUN", help="run directory written by 'rnnkit classify train'")
    predict.add_argument("files", nargs="*", metavar="FILE", help="input file(s); '-' or none reads stdin")
    _add_reading(predict, False)
    predict.add_argument("--top", type=positive_int, metavar="N", help="list only the N most likely labels")
    predict.add_argument("--threshold", type=float, default=0.5,
                         help="multi-label: labels with probability at least this (default: 0.5)")
    _add_use_flags(predict)
    predict.set_defaults(handler=lazy_handler("rnnkit.cli.classify_use", "predict"))


def _add_use_flags(parser: argparse.ArgumentParser) -> None:
    add_use_flags(parser)
    parser.add_argument("--batch-size", type=positive_int, default=64, help="examples per batch (default: 64)")
