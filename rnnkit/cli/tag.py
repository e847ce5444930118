"""``rnnkit tag train | eval | predict``: sequence tagging, one tag per token (flags only)."""

from __future__ import annotations

import argparse

from rnnkit.cli.args import add_train_flags, add_use_flags, fraction, lazy_handler, positive_int

FORMATS = ("conll", "jsonl", "npz", "text")
_MODEL_HELP = {"cell": "lstm", "hidden": 128, "layers": 1, "dropout": 0.5}


def _add_reading(parser: argparse.ArgumentParser, for_training: bool) -> None:
    group = parser.add_argument_group("reading the data" if for_training else
                                      "reading the data (default: as the run's training data was read)")
    group.add_argument("--format", choices=FORMATS, help="file format (default: from the extension: .jsonl, "
                       ".npz, .conll; other names are conll with tags, plain text (one sentence per line) "
                       "without)")
    group.add_argument("--token-column", metavar="N|KEY", help="conll: the token's column, 1-based (default: 1); "
                       "jsonl: the tokens' key (default: tokens)")
    group.add_argument("--tag-column", metavar="N|KEY", help="conll: the tag's column (default: the last); "
                       "jsonl: the tags' key (default: tags)")


def register(tasks) -> None:
    tag = tasks.add_parser("tag", help="sequence tagging (many-to-many, T_x = T_y): train, eval, predict",
                           description="One tag per token: named entities, chunks, part of speech.")
    verbs = tag.add_subparsers(dest="verb", metavar="VERB", required=True)

    from rnnkit.tasks.tag import MODEL_DEFAULTS, TAG_TRAIN_DEFAULTS

    d = MODEL_DEFAULTS
    train = verbs.add_parser("train", help="train a tagger",
                             description="Train a bidirectional recurrent tagger with character-aware word "
                             "vectors and a CRF. Only --data (and --valid) are needed.")
    add_train_flags(train, TAG_TRAIN_DEFAULTS, d)
    _add_reading(train, True)
    data = train.add_argument_group("tokens and tags")
    data.add_argument("--scheme", choices=("iob1", "iob2", "bioes", "none"),
                      help="the tags' scheme (default: detected from the training tags; none = plain tags "
                      "such as part of speech)")
    data.add_argument("--lower", action="store_true", default=None,
                      help="look words up lower-cased (the characters keep their case)")
    data.add_argument("--zeros", action="store_true", default=None,
                      help="look words up with every digit as 0")
    data.add_argument("--min-freq", type=positive_int, help="rarer words become <UNK> (default: 1)")
    data.add_argument("--valid-fraction", type=fraction, help="without --valid: the part of --data held out "
                      "at random for validation (default: 0.1)")
    model = train.add_argument_group("tagger")
    model.add_argument("--decoder", choices=("crf", "softmax"),
                       help=f"a linear-chain CRF, or a softmax per token (default: {d['decoder']})")
    model.add_argument("--embedding", type=positive_int, metavar="E",
                       help=f"word embedding size (default: {d['embedding']})")
    model.add_argument("--embeddings", metavar="FILE", help="initialise word embeddings from a word2vec/GloVe "
                       "text file (give --embedding its dimension)")
    model.add_argument("--chars", action=argparse.BooleanOptionalAction, default=None,
                       help="character-aware word vectors: a bidirectional LSTM over each word's letters "
                       "(default: yes)")
    model.add_argument("--char-embedding", type=positive_int, metavar="E",
                       help=f"letter embedding size (default: {d['char_embedding']})")
    model.add_argument("--char-hidden", type=positive_int, metavar="H",
                       help=f"hidden size of the letters' LSTM, per direction (default: {d['char_hidden']})")
    model.add_argument("--unk-replace", type=fraction, metavar="P", help="while training, replace a word seen "
                       f"once by <UNK> with probability P (default: {d['unk_replace']})")
    model.add_argument("--word-dropout", type=fraction, metavar="P", help="while training, replace any word by "
                       f"<UNK> with probability P, so that letters alone must tell (default: {d['word_dropout']})")
    train.set_defaults(handler=lazy_handler("rnnkit.cli.tag_use", "train"))

    evaluate = verbs.add_parser("eval", help="entity precision, recall, F1 (as conlleval counts) and token "
                                "accuracy", description="Evaluate a tagger on a tagged file.")
    evaluate.add_argument("run", metavar="RUN", help="run directory written by 'rnnkit tag train'")
    evaluate.add_argument("--data", nargs="+", required=True, metavar="FILE", help="tagged file(s)")
    _add_reading(evaluate, False)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    evaluate.add_argument("--output", metavar="FILE", help="write the tokens with their true and predicted tags "
                          "(CoNLL, the input's scheme; the layout conlleval reads)")
    evaluate.add_argument("--confusion-png", metavar="FILE", help="draw which type each true entity was given "
                          "(missed and spurious ones too) here (default: RUN/entities-<data file>.png)")
    _add_use_flags(evaluate)
    evaluate.set_defaults(handler=lazy_handler("rnnkit.cli.tag_use", "evaluate"))

    predict = verbs.add_parser("predict", help="tag sentences: one JSON line per sentence",
                               description="Tag every sentence of FILE(s) (CoNLL, jsonl, or plain text with one "
                               "sentence per line), or of each line of standard input ('-' or no FILE). Writes "
                               'one JSON object per sentence: {"tokens": […], "tags": […], "entities": '
                               '[{"type", "start", "end", "text"}]}.')
    predict.add_argument("run", metavar="RUN", help="run directory written by 'rnnkit tag train'")
    predict.add_argument("files", nargs="*", metavar="FILE", help="input file(s); '-' or none reads stdin")
    _add_reading(predict, False)
    _add_use_flags(predict)
    predict.set_defaults(handler=lazy_handler("rnnkit.cli.tag_use", "predict"))


def _add_use_flags(parser: argparse.ArgumentParser) -> None:
    add_use_flags(parser)
    parser.add_argument("--batch-size", type=positive_int, default=64, help="sentences per batch (default: 64)")
