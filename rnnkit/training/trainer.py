"""The one trainer: the loop every task trains through.

A task supplies its batches and an :class:`~rnnkit.training.objective.Objective` (its loss, its evaluation,
its state policy); the trainer does the rest. Each step takes the next batch, computes the objective's loss,
clips the gradient and updates; every ``eval_every`` steps it evaluates, keeps the best checkpoint by the
objective's monitored metric (a tie broken by the lower validation loss: small validation sets make ties
common) and stops early after ``patience`` evaluations without improvement. Everything
a step depends on (step, epoch, batch position, a carried state, the optimizer, the schedule, every RNG) is
checkpointed, so a resumed run logs exactly what the uninterrupted run would have logged.

Weight averaging (``config.ema``, Polyak averaging): after every step the trainer updates an exponential moving
average of the weights, ``w̄ ← d·w̄ + (1 − d)·w`` with ``d = min(ema, (1 + step) / (10 + step))`` (so the first
steps are not averaged with the initial weights for long); evaluation, the best checkpoint and early stopping
use the averaged weights, training goes on from the raw ones. The latest checkpoint keeps both (the average
in ``optimizer.safetensors``), so resuming is still exact.

Precision (``config.precision``): with ``bf16`` each step's loss is computed under bfloat16 autocast; weights,
optimizer state, the carried state and checkpoints stay float32 and evaluation runs in float32
(:mod:`rnnkit.training.precision`).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from rnnkit.errors import RnnkitError
from rnnkit.training import distributed as dist
from rnnkit.training.checkpoint import load_json, load_tensors, tensors_to_bytes, write_checkpoint
from rnnkit.training.clipping import clip_gradients
from rnnkit.training.config import TrainConfig
from rnnkit.training.metrics import MetricsLog, plot_losses
from rnnkit.training.objective import Objective, better, to_device
from rnnkit.training.optim import build_optimizer
from rnnkit.training.precision import autocast, check_precision
from rnnkit.training.schedule import LRSchedule
from rnnkit.training.state import capture_rng, optimizer_from_tensors, optimizer_to_tensors, restore_rng
from rnnkit.training.tensorboard import TensorBoardLog


def _detach(state):
    """The carried state cut from the graph, and float32 where bfloat16 autocast made it bfloat16."""
    if state is None:
        return None
    return tuple(s.detach().float() if s.dtype == torch.bfloat16 else s.detach() for s in state)


# Short names of validation metrics for the progress bar.
_SHORT = {"loss": "val_loss", "accuracy": "val_acc", "macro_f1": "val_f1", "f1": "val_f1"}


class Trainer:
    """Train ``model`` on ``train`` batches with ``objective``, evaluating on ``valid``.

    Args:
        model: the task's model (an ``nn.Module``; wrapped in DistributedDataParallel under torchrun).
        train, valid: batches (see :mod:`rnnkit.training.objective`); ``valid`` may be None.
        objective: the task's :class:`~rnnkit.training.objective.Objective`.
        config: :class:`TrainConfig`.
        run_dir: where checkpoints, ``metrics.jsonl`` and ``loss.png`` go.
        sample: optional ``sample(model, step) -> str``, printed at each evaluation (and a text summary with
            ``config.tensorboard``, where every logged record also goes: see :mod:`rnnkit.training.tensorboard`).
        on_best: optional ``on_best(model, metrics, run_dir)``, called on rank 0 after a new best checkpoint is
            written (a task's pictures of its best model).
    """

    def __init__(self, model, train, valid, objective: Objective, config: TrainConfig, run_dir: str | Path,
                 sample: Callable | None = None, device: torch.device | str = "cpu", quiet: bool = False,
                 on_best: Callable | None = None):
        self.model, self.train_batches, self.valid_batches = model, train, valid
        self.objective, self.on_best = objective, on_best
        self.config, self.run_dir, self.sample, self.quiet = config, Path(run_dir), sample, quiet
        self.device = torch.device(device)
        self.net = model
        if dist.world_size() > 1:
            self.net = DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda"
                                               else None)
        check_precision(config.precision, self.device)
        self.optimizer = build_optimizer(model.parameters(), config)
        self.schedule = LRSchedule(config.lr, config.steps, config.schedule, config.warmup, config.min_lr_ratio,
                                   config.lr_gamma, config.lr_step_size)
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl")
        self.tensorboard: TensorBoardLog | None = None     # open during fit() on rank 0 with config.tensorboard
        self.step, self.epoch, self.batch_index = 0, 0, 0
        self.carry = None
        self.best, self.best_metrics, self.bad_evals, self.bad_steps = None, None, 0, 0
        self.stopped_early = False
        self.train_time, self._fit_start = 0.0, time.perf_counter()  # seconds trained before this process
        self.averaged = ({k: v.detach().clone() for k, v in model.state_dict().items()}
                         if config.ema is not None else None)
        self._postfix: dict[str, str] = {}

    @property
    def monitor(self) -> str:
        """The metric that decides the best checkpoint, as logged (``valid_loss``, ``valid_accuracy`` …)."""
        return f"valid_{self.objective.monitor}"

    # --- the loop -------------------------------------------------------------------------------------

    def fit(self) -> dict:
        """Train up to ``config.steps`` steps (or the time limit, or early stopping); return a summary."""
        if self.config.tensorboard is not None and dist.is_main():
            self.tensorboard = TensorBoardLog(self.config.tensorboard, step=self.step)
        try:
            return self._fit()
        finally:
            if self.tensorboard is not None:
                self.tensorboard.close()
                self.tensorboard = None

    def _fit(self) -> dict:
        cfg = self.config
        start_time, last_log, items_since = time.perf_counter(), time.perf_counter(), 0
        self._fit_start = start_time
        bar = tqdm(total=cfg.steps, initial=self.step, unit="step", dynamic_ncols=True,
                   disable=self.quiet or not dist.is_main(), desc="train")
        batches = self.train_batches.iter_from(self.batch_index, epoch=self.epoch)
        loss_sum, loss_count, grad_norm = 0.0, 0, float("nan")
        rate_key = f"{self.objective.unit}_per_s"
        while self.step < cfg.steps:
            try:
                batch = next(batches)
            except StopIteration:
                # The state policy: a carried state never crosses an epoch boundary.
                self.epoch, self.batch_index, self.carry = self.epoch + 1, 0, None
                batches = self.train_batches.iter_from(0, epoch=self.epoch)
                continue
            self.batch_index += 1
            elapsed = None
            if cfg.time_limit is not None:
                elapsed = (time.perf_counter() - start_time) / (cfg.time_limit * 60)
            batch = to_device(batch, self.device)
            loss, norm = self._train_step(batch, elapsed)
            if loss is None:
                continue
            self.step += 1
            loss_sum, loss_count, grad_norm = loss_sum + loss, loss_count + 1, norm
            items_since += self.objective.count(batch) * dist.world_size()
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                now = time.perf_counter()
                record = {"step": self.step, "loss": loss_sum / loss_count, "lr": self.optimizer.param_groups[0]["lr"],
                          "grad_norm": grad_norm, rate_key: items_since / max(now - last_log, 1e-9),
                          "epoch": self.epoch, "time": round(self.train_time + now - start_time, 3)}
                postfix = {"loss": f"{record['loss']:.3f}", rate_key.replace("_per_s", "/s").replace("tokens", "tok")
                           .replace("examples", "ex"): f"{record[rate_key]:.0f}", **self._postfix}
                if cfg.time_limit is not None:  # the bar's ETA counts steps; this is when the time limit ends
                    left = max(0.0, cfg.time_limit * 60 - (now - start_time))
                    postfix["time_left"] = f"{int(left // 60)}:{int(left % 60):02d}"
                bar.set_postfix(postfix)
                self._log(record)
                loss_sum, loss_count, items_since, last_log = 0.0, 0, 0, now
            out_of_time = cfg.time_limit is not None and time.perf_counter() - start_time > cfg.time_limit * 60
            if cfg.time_limit is not None:
                out_of_time = bool(dist.broadcast_value(float(out_of_time)))  # every rank stops together
            if self.step % cfg.eval_every == 0 or self.step == cfg.steps or out_of_time:
                self._evaluate_and_report(bar)
            if self.step % cfg.save_every == 0 or self.step == cfg.steps or out_of_time or self.stopped_early:
                self.save()
            if out_of_time or self.stopped_early:
                break
        bar.close()
        if dist.is_main():
            self._plot()
        return {"step": self.step, "epoch": self.epoch, "monitor": self.monitor, "best": self.best,
                "best_metrics": self.best_metrics, "stopped_early": self.stopped_early}

    def _train_step(self, batch, elapsed: float | None = None):
        """One optimizer step; returns (loss, grad norm), or (None, None) when a non-finite loss is skipped."""
        cfg = self.config
        lr = self.schedule(self.step, elapsed)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.net.train()
        with autocast(cfg.precision, self.device):        # --precision bf16: see rnnkit.training.precision
            loss, carry = self.objective.train_loss(self.net, batch, _detach(self.carry))
        loss = loss.float()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = clip_gradients(self.model.parameters(), cfg.clip_norm, cfg.clip_value, warn_nonfinite=False)
        value = float(loss.detach())
        # The logged loss is the global batch's (the mean over ranks); a bad step on any rank is bad on all.
        value, bad = dist.mean_and_any(value, not (math.isfinite(value) and clip.finite))
        if bad:
            self.bad_steps += 1
            self.carry = None
            warnings.warn(f"step {self.step + 1}: non-finite loss or gradient (loss {value}, gradient norm "
                          f"{clip.norm}); the step is skipped ({self.bad_steps} in a row)", RuntimeWarning,
                          stacklevel=2)
            if self.bad_steps >= cfg.max_bad_steps:
                raise RnnkitError(f"{self.bad_steps} non-finite steps in a row: training diverged; the last good "
                                  f"checkpoint is in {self.run_dir}. Lower --lr or set --clip-norm")
            return None, None
        self.bad_steps = 0
        self.optimizer.step()
        self._average()
        self.carry = _detach(carry) if self.objective.carries_state else None
        return value, clip.norm

    @torch.no_grad()
    def _average(self) -> None:
        if self.averaged is None:
            return
        decay = min(self.config.ema, (1 + self.step) / (10 + self.step))
        for k, v in self.model.state_dict().items():
            if v.is_floating_point():
                self.averaged[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
            else:
                self.averaged[k].copy_(v)

    @contextlib.contextmanager
    def _averaged_weights(self):
        """The model holds the averaged weights inside the block (when averaging), its own ones after."""
        if self.averaged is None:
            yield
            return
        raw = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(self.averaged)
        try:
            yield
        finally:
            self.model.load_state_dict(raw)

    @torch.no_grad()
    def evaluate(self, batches=None) -> dict[str, float]:
        """The objective's validation metrics over ``batches`` (default: the validation batches)."""
        batches = self.valid_batches if batches is None else batches
        with self._averaged_weights():
            self.model.eval()
            try:
                return self.objective.evaluate(self.model, batches, self.config.eval_batches)
            finally:
                self.model.train()

    def _evaluate_and_report(self, bar) -> None:
        record = {"step": self.step, "time": round(self.train_time + time.perf_counter() - self._fit_start, 3)}
        if self.valid_batches is not None:
            metrics = dist.broadcast_object(self.evaluate())  # rank 0's, so early stopping agrees everywhere
            record.update({f"valid_{k}": v for k, v in metrics.items()})
            self.schedule.observe(metrics["loss"])
            value = metrics[self.objective.monitor]
            tie = (value == self.best and self.objective.monitor != "loss"
                   and metrics["loss"] < (self.best_metrics or {}).get("loss", math.inf))
            if math.isfinite(value) and (tie or better(value, self.best, self.objective.higher_is_better)):
                self.best, self.best_metrics, self.bad_evals = value, metrics, 0
                self.save_best()
            else:
                self.bad_evals += 1
                if self.config.patience is not None and self.bad_evals >= self.config.patience:
                    self.stopped_early = True
            self._postfix = {_SHORT.get(self.objective.monitor, self.objective.monitor): f"{value:.4f}"}
            bar.set_postfix(self._postfix)
        self._log(record)
        if self.tensorboard is not None and self.valid_batches is not None:
            self.tensorboard.scalar(f"valid/best_{self.objective.monitor}", self.best, self.step)
        # The tasks' samplers draw from their own generator (or none), so a sample made for TensorBoard alone
        # (under --quiet) changes nothing in training.
        text = (self.sample(self.model, self.step) if self.sample is not None and dist.is_main()
                and (not self.quiet or self.tensorboard is not None) else None)
        if text and self.tensorboard is not None:
            self.tensorboard.text("sample", text, self.step)
        if dist.is_main() and not self.quiet:
            if self.valid_batches is None:
                line = "no validation data"
            else:
                shown = [k for k in ("loss", self.objective.monitor) if f"valid_{k}" in record]
                line = ", ".join(f"validation {k.replace('_', ' ')} {record[f'valid_{k}']:.4f}"
                                 for k in dict.fromkeys(shown))
                if self.best is not None:
                    line += f" (best {self.best:.4f})"
            bar.write(f"step {self.step}: {line}")
            if text is not None:
                bar.write(text)
        if dist.is_main():
            self._plot()

    def _log(self, record: dict) -> None:
        if dist.is_main():
            self.metrics.append(record)
            if self.tensorboard is not None:
                self.tensorboard.record(record)

    def _plot(self) -> None:
        plot_losses(self.metrics.read(), self.run_dir / "loss.png", unit=self._loss_unit(),
                    clip_norm=self.config.clip_norm)

    # --- checkpoints ----------------------------------------------------------------------------------

    def save(self) -> None:
        """Write the latest checkpoint atomically (rank 0; a carried state is gathered from every rank)."""
        carry = None if self.carry is None else tuple(dist.gather_rows(s, dim=1) for s in self.carry)
        rngs = dist.gather_objects(capture_rng())
        if not dist.is_main():
            return
        opt_tensors, opt_rest = optimizer_to_tensors(self.optimizer)
        if carry is not None:
            opt_tensors.update({f"carry.{i}": s for i, s in enumerate(carry)})
        if self.averaged is not None:
            opt_tensors.update({f"averaged.{k}": v for k, v in self.averaged.items()})
        state = {"step": self.step, "epoch": self.epoch, "batch_index": self.batch_index,
                 "monitor": self.monitor, "best": self.best, "best_metrics": self.best_metrics,
                 "bad_evals": self.bad_evals, "stopped_early": self.stopped_early, "schedule": self.schedule.state(),
                 "optimizer": opt_rest, "rng": rngs[0], "rank_rng": rngs[1:], "world_size": dist.world_size(),
                 "train_time": self.train_time + time.perf_counter() - self._fit_start}
        if self.objective.monitor == "loss":
            state["best_valid_loss"] = self.best
        write_checkpoint(self.run_dir, {
            "model.safetensors": tensors_to_bytes(self.model.state_dict()),
            "optimizer.safetensors": tensors_to_bytes(opt_tensors),
            "state.json": _json(state),
        })
        if self.tensorboard is not None:
            self.tensorboard.flush()      # the event files hold at least what the checkpoint does

    def save_best(self) -> None:
        if dist.is_main():
            metrics = {f"valid_{k}": v for k, v in (self.best_metrics or {}).items()}
            with self._averaged_weights():              # the weights that were evaluated
                write_checkpoint(self.run_dir / "best", {
                    "model.safetensors": tensors_to_bytes(self.model.state_dict()),
                    "state.json": _json({"step": self.step, "monitor": self.monitor, **metrics}),
                })
                if self.on_best is not None:
                    self.on_best(self.model, self.best_metrics, self.run_dir)

    def _loss_unit(self) -> str:
        """What the loss is averaged over, for the curve's axis: the objective's ``loss_unit`` where it differs
        from the ``unit`` it counts throughput in (speech: utterances per second, loss per label)."""
        return getattr(self.objective, "loss_unit", self.objective.unit.rstrip("s"))

    def resume(self) -> None:
        """Load the latest checkpoint of ``run_dir`` and continue exactly where it stopped."""
        state = load_json(self.run_dir / "state.json")
        load_model_weights(self.model, self.run_dir / "model.safetensors")
        tensors = load_tensors(self.run_dir / "optimizer.safetensors")
        averaged = {k.removeprefix("averaged."): tensors.pop(k) for k in list(tensors) if k.startswith("averaged.")}
        if self.averaged is not None:
            if set(averaged) != set(self.averaged):
                raise RnnkitError(f"{self.run_dir / 'optimizer.safetensors'}: no averaged weights for --ema, or "
                                  "not this model's; the file belongs to another run")
            for k, v in averaged.items():
                self.averaged[k].copy_(v)
        carry = [tensors.pop(f"carry.{i}") for i in range(len(tensors)) if f"carry.{i}" in tensors]
        expected = self.objective.carry_shapes() if self.objective.carries_state else []
        if carry and [tuple(s.shape) for s in carry] != expected:
            raise RnnkitError(f"{self.run_dir / 'optimizer.safetensors'}: the carried state has shapes "
                              f"{[tuple(s.shape) for s in carry]}, expected {expected} for this model and "
                              "--batch-size; the file belongs to another run or --batch-size changed")
        if not isinstance(state.get("optimizer"), dict):
            raise RnnkitError(f"{self.run_dir / 'state.json'}: malformed training state (no optimizer entry)")
        optimizer_from_tensors(self.optimizer, {k: v.to(self.device) for k, v in tensors.items()},
                               state["optimizer"])
        try:
            self.step, self.epoch, self.batch_index = state["step"], state["epoch"], state["batch_index"]
            if not all(isinstance(v, int) and v >= 0 for v in (self.step, self.epoch, self.batch_index)):
                raise ValueError("step, epoch and batch_index must be integers >= 0")
            # Runs written before the trainer named its monitored metric kept only the best validation loss.
            self.best = state["best"] if "best" in state else state["best_valid_loss"]
            if self.best is not None and not isinstance(self.best, (int, float)):
                raise ValueError(f"best must be a number, got {self.best!r}")
            self.best_metrics = state.get("best_metrics")
            self.bad_evals = state["bad_evals"]
            self.stopped_early = bool(state.get("stopped_early", False))
            self.schedule.load_state(state["schedule"])
            self.train_time = float(state.get("train_time", 0.0))
            restore_rng(state["rng"])
            if dist.rank() > 0:
                rank_rng = state.get("rank_rng") or []
                if state.get("world_size") == dist.world_size() and len(rank_rng) >= dist.rank():
                    restore_rng(rank_rng[dist.rank() - 1])
                else:  # another number of processes: fresh, distinct dropout masks per rank
                    torch.manual_seed(self.config.seed + 7919 * dist.rank() + self.step)
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
            raise RnnkitError(f"{self.run_dir / 'state.json'}: malformed training state ({e})") from None
        self.carry = tuple(dist.local_rows(s, dim=1).to(self.device) for s in carry) if carry else None
        self.metrics.truncate(self.step) if dist.is_main() else None


def _json(obj) -> str:
    return json.dumps(obj, indent=1) + "\n"


def load_model_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load safetensors weights into ``model``; names or shapes that differ are a clear :class:`RnnkitError`."""
    tensors = load_tensors(path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if tuple(expected[k].shape) != tuple(tensors[k].shape))
    if missing or unexpected or wrong:
        detail = "; ".join(part for part in (
            f"missing {missing[:3]}" if missing else "", f"unexpected {unexpected[:3]}" if unexpected else "",
            f"wrong shape {wrong[:3]}" if wrong else "") if part)
        raise RnnkitError(f"{path}: the weights do not match the model in config.json ({detail}); "
                          "the checkpoint belongs to another model")
    bad = sorted(k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all()))
    if bad:
        raise RnnkitError(f"{path}: weights {bad[:3]} hold NaN or infinite values; the file is corrupt or "
                          "comes from a diverged run")
    model.load_state_dict({k: v.to(expected[k].device, expected[k].dtype) for k, v in tensors.items()})
