"""Speech recognition (many-to-many, ``T_y ≪ T_x``, no alignment): manifests → audio features → CTCRecognizer.

What is particular to the task lives here and in :mod:`rnnkit.tasks.speech_data`: the defaults (the recipe),
the front end and normalisation kept in the run, the objective (each utterance's CTC loss divided by its
transcript's length, averaged over the global batch), the validation metrics (character and word error rate of
greedy transcripts, from jiwer; the best checkpoint is the lowest WER), decoding (greedy or prefix beam search,
optionally held to the training words) and loading a run for ``eval`` and ``transcribe``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit.audio import AugmentConfig, Augmenter, FrontEnd, FrontEndConfig, Normalizer
from rnnkit.data import Vocab
from rnnkit.data.formats.manifest import Utterance, read_manifest
from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_write
from rnnkit.models.ctc import SUBSAMPLING, CTCRecognizer
from rnnkit.tasks.classify_data import split_examples
from rnnkit.tasks.speech_data import (
    Features,
    SpeechBatches,
    Units,
    check_emittable,
    encode_utterances,
    load_waves,
    most_common_rate,
    warn_unknown,
)
from rnnkit.training import distributed as dist
from rnnkit.training.config import TrainConfig
from rnnkit.training.driver import Prepared, data_files, once_an_epoch, resolve_options
from rnnkit.training.run import read_config, weights_path
from rnnkit.training.trainer import load_model_weights

MODEL_KEYS = ("cell", "hidden", "layers", "dropout", "bidirectional", "subsampling", "stride", "units",
              "sample_rate", "features", "n_mels", "n_mfcc", "normalize")
MODEL_DEFAULTS = {"cell": "lstm", "hidden": 128, "layers": 2, "dropout": 0.2, "bidirectional": True,
                  "subsampling": "stack", "stride": 2}
DATA_DEFAULTS = {"format": None, "path_column": "path", "transcript_column": "transcript", "units": "char",
                 "sample_rate": None, "features": "mfcc", "n_mels": 40, "n_mfcc": 13, "normalize": "utterance",
                 "valid_fraction": 0.1, "augment": True, "speed": None, "noise_snr": None, "time_masks": None,
                 "freq_masks": None}
NORMALIZATIONS = ("utterance", "global", "none")
SPEECH_TRAIN_DEFAULTS = TrainConfig(steps=1_000_000, epochs=40, batch_size=32, lr=3e-3, schedule="cosine",
                                    warmup=100, clip_norm=5.0, patience=10, eval_every=100, save_every=100,
                                    sample_length=0, log_every=10)
EVAL_EVERY_MIN, EVAL_EVERY_MAX = 20, 1000
AUDIO_BUDGET, MIN_EPOCHS = 30_000.0, 10        # seconds of audio to train on, and the fewest passes


def default_epochs(train_seconds: float) -> int:
    """Passes over the training audio: as many as make ``AUDIO_BUDGET`` seconds (about 5 minutes of training
    on 2 CPU cores at the defaults), between ``MIN_EPOCHS`` and ``SPEECH_TRAIN_DEFAULTS.epochs`` (40). The
    isolated FSDD digits (12.5 minutes of audio) get 40 epochs; the connected digit strings (133 minutes) 10."""
    epochs = round(AUDIO_BUDGET / max(1.0, train_seconds))
    return int(min(SPEECH_TRAIN_DEFAULTS.epochs, max(MIN_EPOCHS, epochs)))


# --- the objective ----------------------------------------------------------------------------------

def ctc_losses(log_probs: torch.Tensor, frames: torch.Tensor, targets: torch.Tensor,
               target_lengths: torch.Tensor) -> torch.Tensor:
    """Each utterance's ``−log P(y | x)`` (B,), from ``F.ctc_loss`` over all alignments (blank = 0)."""
    return F.ctc_loss(log_probs.transpose(0, 1), targets, frames, target_lengths, blank=0, reduction="none",
                      zero_infinity=False)


class SpeechObjective:
    """CTC loss per label, averaged over the global batch's utterances; validation by WER (and CER)."""

    monitor, higher_is_better, carries_state, unit = "wer", False, False, "utterances"
    loss_unit = "label"

    def __init__(self, units: Units, decoding: Decoding | None = None):
        self.units, self.decoding = units, decoding or Decoding()

    def train_loss(self, net, batch, carry):
        log_probs, frames = net(batch.inputs, batch.lengths)
        t_len = batch.extra["target_lengths"]
        losses = ctc_losses(log_probs, frames, batch.targets, t_len) / t_len.clamp(min=1)
        return losses.sum() * (dist.world_size() / batch.global_size), None

    def count(self, batch) -> int:
        return len(batch)

    def carry_shapes(self):
        return None

    @torch.no_grad()
    def evaluate(self, model, batches, limit: int | None = None) -> dict:
        out = transcribe_batches(model, batches, self.units, self.decoding, limit, with_loss=True)
        return metrics_of(out, batches.data.transcripts)


@dataclass
class Decoding:
    """How to decode: ``beam`` 1 is greedy (best path); more is prefix beam search, held to ``words`` (a word
    list) when given."""

    beam: int = 1
    words: list[str] | None = None


def make_decoder(units: Units, how: Decoding):
    """``decode(log_probs (B, T', C), frames (B,)) -> list of label-id lists``."""
    from rnnkit.models.ctc_decoding import Lexicon, greedy_decode, prefix_beam_search

    if how.beam <= 1 and not how.words:
        return lambda lp, fr: greedy_decode(lp, fr)
    lexicon = None
    if how.words:
        lexicon = Lexicon(how.words, units.symbols, space=" ") if units.kind == "char" else None

    def decode(lp, fr):
        found = prefix_beam_search(lp.cpu(), fr.cpu(), beam_size=max(how.beam, 1), lexicon=lexicon)
        return [hyps[0].labels if hyps else [] for hyps in found]
    return decode


@torch.no_grad()
def transcribe_batches(model: CTCRecognizer, batches: SpeechBatches, units: Units, how: Decoding,
                       limit: int | None = None, with_loss: bool = False) -> dict:
    """Every utterance's transcript (and CTC loss per label, where it has label ids), in the data's order."""
    model.eval()
    device = next(model.parameters()).device
    decode = make_decoder(units, how)
    n = batches.num_examples
    texts: list[str | None] = [None] * n
    losses = np.full(n, np.nan)
    for k, batch in enumerate(batches.iter_from(0)):
        if limit is not None and k >= limit:
            break
        batch = batch.to(device)
        log_probs, frames = model(batch.inputs, batch.lengths)
        idx = batch.index.tolist()
        for i, labels in zip(idx, decode(log_probs, frames)):
            texts[i] = units.text(labels)
        t_len = batch.extra["target_lengths"]
        if with_loss and bool((t_len > 0).any()):
            keep = (t_len > 0).nonzero().squeeze(1)
            lp = log_probs[keep]
            per = ctc_losses(lp, frames[keep], batch.targets[keep], t_len[keep]) / t_len[keep]
            losses[[idx[j] for j in keep.tolist()]] = per.double().cpu().numpy()
    seen = [i for i, t in enumerate(texts) if t is not None]
    return {"texts": [texts[i] for i in seen], "loss": losses[seen], "index": seen}


def metrics_of(out: dict, references: list[str | None]) -> dict:
    """Loss (nats per label), CER and WER (jiwer) of decoded utterances against their transcripts."""
    from rnnkit.metrics.speech import error_rates

    refs = [references[i] for i in out["index"]]
    pairs = [(h, r) for h, r in zip(out["texts"], refs) if r is not None]
    finite = out["loss"][np.isfinite(out["loss"])]     # a transcript too long for its frames has no CTC path
    result = {"loss": float(finite.mean()) if len(finite) else float("nan")}
    if pairs:
        rates = error_rates([h for h, _ in pairs], [r for _, r in pairs])
        result.update({"cer": rates["cer"], "wer": rates["wer"]})
    return result


# --- training ---------------------------------------------------------------------------------------

def front_end_config(opts: dict, rate: int) -> FrontEndConfig:
    if opts["features"] not in ("fbank", "mfcc"):
        raise RnnkitError(f"--features must be fbank or mfcc, got {opts['features']!r}")
    return FrontEndConfig(sample_rate=int(rate), features=opts["features"], n_mels=int(opts["n_mels"]),
                          n_mfcc=int(opts["n_mfcc"]))


def augment_config(opts: dict) -> AugmentConfig | None:
    if not opts["augment"]:
        return None
    given = {}
    if opts["speed"] is not None:
        given["speed"] = tuple(float(s) for s in opts["speed"])
    if opts["noise_snr"] is not None:
        given["noise_snr_db"] = tuple(float(s) for s in opts["noise_snr"])
    for key in ("time_masks", "freq_masks"):
        if opts[key] is not None:
            given[key] = int(opts[key])
    return AugmentConfig(**given)


class SpeechTask:
    """``rnnkit speech train``."""

    name = "speech"
    defaults = SPEECH_TRAIN_DEFAULTS
    model_flags = MODEL_KEYS

    def prepare(self, args, saved, run, config, device) -> Prepared:
        saved_data = saved["data"] if saved else None
        opts = _options(args, saved_data)
        m = resolve_options(MODEL_DEFAULTS, args, saved_data)
        _check_model(m)
        files, valid_files = data_files(args, saved, "a tsv, csv or jsonl manifest with path and transcript")
        train_utts = read_for_training(files, opts)
        if valid_files:
            valid_utts = read_for_training(valid_files, opts)
        else:
            train_utts, valid_utts = split_examples(train_utts, opts["valid_fraction"], config.seed)
        rate = int(opts["sample_rate"] or most_common_rate(train_utts))
        opts["sample_rate"] = rate
        fe_config = front_end_config(opts, rate)
        front_end = FrontEnd(fe_config).eval()
        train_waves = load_waves(train_utts, rate)
        units = load_units(run) if saved else Units.build([u.transcript for u in train_utts], opts["units"])
        train = encode_utterances(train_utts, train_waves, units)
        for u, lab in zip(train.utterances, train.labels):
            if lab is None:
                raise RnnkitError(f"{u.where}: the transcript holds {', '.join(map(repr, units.unknown(u.transcript)))}"
                                  ", which the resumed run has no symbol for")
            if not lab:
                raise RnnkitError(f"{u.where}: the transcript is empty; give every training recording its words")
        if saved:
            normalizer = Normalizer.from_dict(saved_data["normalizer"])
        else:
            normalizer = Normalizer(opts["normalize"])
            if opts["normalize"] == "global":
                normalizer.fit(_raw_features(front_end, train.waves))
        features = Features(front_end, normalizer)
        aug = augment_config(opts)
        model = CTCRecognizer(fe_config.num_features, len(units.symbols), hidden_size=m["hidden"],
                              num_layers=m["layers"], cell=m["cell"], bidirectional=m["bidirectional"],
                              subsampling=m["subsampling"], stride=m["stride"], dropout=m["dropout"]).to(device)
        fastest = max(aug.speed) if aug is not None and aug.speed else 1.0
        check_emittable(train, features, lambda n: int(model.output_lengths(torch.tensor(n))), fastest)
        train_batches = SpeechBatches(train, features, config.batch_size,
                                      augmenter=Augmenter(aug) if aug is not None else None, shuffle=True,
                                      seed=config.seed, rank=dist.rank(), world_size=dist.world_size())
        valid_batches = None
        if valid_utts:
            valid = encode_utterances(valid_utts, load_waves(valid_utts, rate), units)
            warn_unknown(valid, units, "validation")
            valid_batches = SpeechBatches(valid, features, 32)
        seconds = sum(len(w) for w in train.waves) / rate
        if not saved:
            once_an_epoch(config, args, len(train_batches), EVAL_EVERY_MIN, EVAL_EVERY_MAX)
            if args.epochs is None:
                config.epochs = default_epochs(seconds)
        config.validate()
        counts = Counter(w for u in train_utts for w in u.transcript.split())
        data = {**opts, **m, "files": [str(f) for f in files],
                "valid_files": [str(f) for f in valid_files] if valid_files else None,
                "front_end": fe_config.to_dict(), "normalizer": normalizer.to_dict(),
                "augmentation": aug.to_dict() if aug is not None else None,
                "train_utterances": len(train_utts), "valid_utterances": len(valid_utts),
                "train_seconds": round(seconds, 1)}
        description = (
            f"{', '.join(map(str, files))}\n  {len(train_utts):,} training recordings ({seconds / 60:.1f} min) and "
            f"{len(valid_utts):,} validation ones at {rate} Hz; {fe_config.num_features} {fe_config.features} "
            f"features, {opts['normalize']} normalisation, {units.kind} units ({len(units.symbols) - 1} and the "
            f"blank); {'bidirectional ' if m['bidirectional'] else ''}{m['cell']} {m['layers']}×{m['hidden']}"
            f", {m['subsampling']} ×{m['stride'] if m['subsampling'] != 'none' else 1}"
            f"{', augmented' if aug is not None else ''}")
        word_list = "".join(f"{w}\t{counts[w]}\n" for w in sorted(counts))
        files_out = {"vocab.json": units.vocab.save, "words.txt": lambda p: atomic_write(p, word_list)}
        return Prepared(model, train_batches, valid_batches, SpeechObjective(units),
                        {"model": model.config_dict(), "data": data}, files=files_out, description=description,
                        sample=_show_transcripts(units, valid_batches) if valid_batches is not None else None)


def _raw_features(front_end: FrontEnd, waves: list[np.ndarray]):
    with torch.no_grad():
        for w in waves:
            feats, frames = front_end(torch.from_numpy(w).unsqueeze(0))
            yield feats[0, :int(frames[0])]


def _check_model(m: dict) -> None:
    if m["subsampling"] not in SUBSAMPLING:
        raise RnnkitError(f"--subsampling must be one of {', '.join(SUBSAMPLING)}, got {m['subsampling']!r}")


def _options(args, saved: dict | None) -> dict:
    opts = resolve_options(DATA_DEFAULTS, args, saved)
    if not 0 <= opts["valid_fraction"] < 1:
        raise RnnkitError(f"--valid-fraction must be in [0, 1), got {opts['valid_fraction']}")
    if opts["normalize"] not in NORMALIZATIONS:
        raise RnnkitError(f"--normalize must be one of {', '.join(NORMALIZATIONS)}, got {opts['normalize']!r}")
    if opts["speed"] is not None and any(not 0.5 <= float(s) <= 2.0 for s in opts["speed"]):
        raise RnnkitError(f"--speed factors must be in 0.5 … 2, got {opts['speed']}")
    if opts["noise_snr"] is not None and (len(opts["noise_snr"]) != 2 or opts["noise_snr"][0] > opts["noise_snr"][1]):
        raise RnnkitError(f"--noise-snr takes LOW HIGH in dB, got {opts['noise_snr']}")
    return opts


def read_for_training(files, opts: dict) -> list[Utterance]:
    return read_manifest(files, opts["format"], path_column=opts["path_column"],
                         transcript_column=opts["transcript_column"], require_transcript=True)


def _show_transcripts(units: Units, valid: SpeechBatches):
    n = valid.num_examples
    shown = sorted({round(k * (n - 1) / 2) for k in range(3)}) if n > 1 else [0]     # spread over the set

    def sample(model, step) -> str:
        batch = valid.make(shown)
        device = next(model.parameters()).device
        was = model.training
        model.eval()
        with torch.no_grad():
            log_probs, frames = model(batch.inputs.to(device), batch.lengths.to(device))
        model.train(was)
        from rnnkit.models.ctc_decoding import greedy_decode

        return "\n".join(f"  {valid.data.transcripts[i]!r} → {units.text(lab)!r}"
                         for i, lab in zip(shown, greedy_decode(log_probs, frames)))

    return sample


# --- using a trained run ----------------------------------------------------------------------------

def load_units(run: Path) -> Units:
    return Units(Vocab.load(Path(run) / "vocab.json"))


CLOSED_VOCABULARY = 1000, 10      # at most this many distinct training words, each heard at least this often


@dataclass
class LoadedRun:
    model: CTCRecognizer
    units: Units
    features: Features
    opts: dict
    words: dict[str, int]             # the training transcripts' words and how often each occurs
    config: dict

    @property
    def rate(self) -> int:
        return int(self.features.front_end.config.sample_rate)

    @property
    def closed_vocabulary(self) -> bool:
        """Whether the training words look like the whole vocabulary of the task (digits, commands): few, and
        each heard many times; then ``--lexicon auto`` holds the output to them."""
        most, often = CLOSED_VOCABULARY
        return 0 < len(self.words) <= most and min(self.words.values()) >= often


def load_run(run: str | Path, checkpoint: str = "best", device: str | torch.device = "cpu") -> LoadedRun:
    """The model, units and front end of a ``speech train`` run (safetensors and JSON files only)."""
    config = read_config(run, "speech")
    run = Path(run)
    try:
        data = config["data"]
        opts = {k: data.get(k, v) for k, v in DATA_DEFAULTS.items()}
        model = CTCRecognizer.from_config(config["model"])
        front_end = FrontEnd(FrontEndConfig.from_dict(data["front_end"])).eval()
        normalizer = Normalizer.from_dict(data["normalizer"])
        units = load_units(run)
    except (KeyError, TypeError, ValueError) as e:
        raise RnnkitError(f"{run / 'config.json'}: the speech configuration is malformed ({e})") from None
    if len(units.symbols) != model.config.num_symbols:
        raise RnnkitError(f"{run}: vocab.json and the model disagree; they come from different runs")
    words = _read_words(run / "words.txt")
    load_model_weights(model, weights_path(run, checkpoint))
    return LoadedRun(model.to(device).eval(), units, Features(front_end, normalizer), opts, words, config)


def _read_words(path: Path) -> dict[str, int]:
    """``word<TAB>count`` lines (a missing file: no words)."""
    words = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            word, _, count = line.partition("\t")
            if word:
                words[word] = int(count) if count.strip().isdigit() else 1
    return words


def read_for(loaded: LoadedRun, files, args, require_transcript: bool) -> list[Utterance]:
    """Read manifests as the run's training manifests were read, unless the flags say otherwise."""
    opts = dict(loaded.opts)
    for key in ("format", "path_column", "transcript_column"):
        if getattr(args, key, None) is not None:
            opts[key] = getattr(args, key)
    if getattr(args, "format", None) is None:
        opts["format"] = None
    return read_manifest(files, opts["format"], path_column=opts["path_column"],
                         transcript_column=opts["transcript_column"], require_transcript=require_transcript)


def data_for(loaded: LoadedRun, utterances: list[Utterance], batch_size: int = 32) -> SpeechBatches:
    data = encode_utterances(utterances, load_waves(utterances, loaded.rate, allow_silence=True), loaded.units)
    warn_unknown(data, loaded.units, "")
    return SpeechBatches(data, loaded.features, batch_size)


__all__ = ["Decoding", "LoadedRun", "SpeechObjective", "SpeechTask", "ctc_losses", "data_for", "load_run",
           "make_decoder", "metrics_of", "read_for", "transcribe_batches"]
