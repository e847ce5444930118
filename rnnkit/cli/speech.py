"""``rnnkit speech train | eval | transcribe``: speech recognition with CTC (flags only)."""

from __future__ import annotations

import argparse

from rnnkit.cli.args import add_train_flags, add_use_flags, fraction, lazy_handler, positive_float, positive_int

FORMATS = ("tsv", "csv", "jsonl")


def _add_reading(parser: argparse.ArgumentParser, for_training: bool) -> None:
    group = parser.add_argument_group("reading the manifests" if for_training else
                                      "reading the manifests (default: as the run's training manifests were read)")
    group.add_argument("--format", choices=FORMATS, help="manifest format (default: from the extension)")
    group.add_argument("--path-column", metavar="NAME", help="the header name (jsonl: key) of the audio file's "
                       "path, absolute or relative to the manifest (default: path)")
    group.add_argument("--transcript-column", metavar="NAME", help="the header name (jsonl: key) of the "
                       "transcript (default: transcript)")


def _add_decoding(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("decoding")
    group.add_argument("--beam", type=positive_int, default=1, help="1: greedy (best path); more: prefix beam "
                       "search with this many prefixes (default: 1)")
    group.add_argument("--lexicon", metavar="auto|train|none|FILE", help="hold the output to a word list (char "
                       "units; prefix beam search): a file with one word per line, 'train' for the words of the "
                       "training transcripts, 'none'; 'auto' (the default) uses the training words when they "
                       "look like a closed vocabulary (at most 1,000 words, each heard at least 10 times: "
                       "digits, commands)")
    group.add_argument("--batch-size", type=positive_int, default=32, help="recordings per batch (default: 32)")


def register(tasks) -> None:
    speech = tasks.add_parser("speech", help="speech recognition with CTC: train, eval, transcribe",
                              description="Audio -> log-mel or MFCC features -> bidirectional RNN -> CTC: "
                              "transcripts without alignments.")
    verbs = speech.add_subparsers(dest="verb", metavar="VERB", required=True)

    from rnnkit.tasks.speech import DATA_DEFAULTS, MODEL_DEFAULTS, SPEECH_TRAIN_DEFAULTS

    d, o = MODEL_DEFAULTS, DATA_DEFAULTS
    train = verbs.add_parser("train", help="train a CTC recogniser",
                             description="Train a CTC speech recogniser on manifests of recordings and their "
                             "transcripts (tsv/csv with a header 'path<TAB>transcript', or jsonl).")
    add_train_flags(train, SPEECH_TRAIN_DEFAULTS, d)
    _add_reading(train, True)
    train.add_argument("--valid-fraction", type=fraction, help="without --valid: the part of --data held out at "
                       f"random for validation (default: {o['valid_fraction']})")
    audio = train.add_argument_group("audio and features")
    audio.add_argument("--sample-rate", type=positive_int, metavar="HZ", help="the model's sample rate; other "
                       "rates are resampled (default: the rate most training files have)")
    audio.add_argument("--features", choices=("fbank", "mfcc"), help="log-mel filterbank or MFCC (default: "
                       f"{o['features']})")
    audio.add_argument("--n-mels", type=positive_int, help=f"mel bands (default: {o['n_mels']})")
    audio.add_argument("--n-mfcc", type=positive_int, help=f"mfcc: coefficients kept (default: {o['n_mfcc']})")
    audio.add_argument("--normalize", choices=("utterance", "global", "none"), help="feature normalisation: "
                       "each utterance's own mean and deviation, or the training set's (default: "
                       f"{o['normalize']})")
    aug = train.add_argument_group("augmentation (training only, reproducible under --seed)")
    aug.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                     help="speed, noise and gain on the waveform, SpecAugment on the features (default: yes)")
    aug.add_argument("--speed", type=positive_float, nargs="+", metavar="FACTOR",
                     help="speed perturbation factors, one drawn per utterance (default: 0.9 1.0 1.1)")
    aug.add_argument("--noise-snr", type=float, nargs=2, metavar=("LOW", "HIGH"),
                     help="add white noise at an SNR drawn in LOW … HIGH dB (default: 10 40, to half the "
                     "utterances)")
    aug.add_argument("--time-masks", type=int, metavar="N", help="SpecAugment time masks (default: 2)")
    aug.add_argument("--freq-masks", type=int, metavar="N", help="SpecAugment frequency masks (default: 2)")
    model = train.add_argument_group("model")
    model.add_argument("--units", choices=("char", "word"), help="output symbols: characters of the transcript "
                       f"(with the space) or whole words (default: {o['units']})")
    model.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                       help="bidirectional layers (default: yes)")
    model.add_argument("--subsampling", choices=("none", "stack", "conv"), help="shorten the frames the RNN "
                       "reads: stack STRIDE frames into one, or a strided convolution (default: "
                       f"{d['subsampling']})")
    model.add_argument("--stride", type=positive_int, help=f"subsampling factor (default: {d['stride']})")
    train.set_defaults(handler=lazy_handler("rnnkit.cli.speech_use", "train"))

    evaluate = verbs.add_parser("eval", help="character and word error rate (jiwer)",
                                description="Transcribe the recordings of a manifest and score them against its "
                                "transcripts: character and word error rate.")
    evaluate.add_argument("run", metavar="RUN", help="run directory written by 'rnnkit speech train'")
    evaluate.add_argument("--data", nargs="+", required=True, metavar="FILE", help="manifest(s)")
    _add_reading(evaluate, False)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    evaluate.add_argument("--output", metavar="FILE", help="write path, reference and transcript per line (tsv)")
    _add_decoding(evaluate)
    add_use_flags(evaluate)
    evaluate.set_defaults(handler=lazy_handler("rnnkit.cli.speech_use", "evaluate"))

    transcribe = verbs.add_parser("transcribe", help="transcribe WAV files: one JSON line each",
                                  description="Transcribe WAV files. Writes one JSON object per file: "
                                  '{"path", "text", "words": [{"word", "start", "end"}]} with times in seconds '
                                  "from the CTC alignment.")
    transcribe.add_argument("run", metavar="RUN", help="run directory written by 'rnnkit speech train'")
    transcribe.add_argument("files", nargs="+", metavar="FILE.wav", help="recordings (any rate: resampled)")
    transcribe.add_argument("--png", metavar="DIR", help="also draw each file's features, per-frame symbol "
                            "probabilities and aligned words as DIR/NAME.png")
    _add_decoding(transcribe)
    add_use_flags(transcribe)
    transcribe.set_defaults(handler=lazy_handler("rnnkit.cli.speech_use", "transcribe"))
