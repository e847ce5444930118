"""``npz``: numeric sequences in a NumPy archive, loaded without pickle.

Keys (``numpy.savez(path, x=…, lengths=…, y=…, label_names=…)``):

- ``x`` float (ΣT, F): the steps ``x<1> … x<T_i>`` of every sequence, one after the other, in order;
- ``lengths`` int (N,): ``T_i`` of every sequence (each at least 1, summing to ΣT);
- ``y`` int (N,): each sequence's class (optional when labels are not required);
- ``label_names`` str (K,), optional: the name of class ``k``; then ``0 <= y < K`` and the label is
  ``label_names[y]``, else the label is ``str(y)``.

The archive is opened with ``allow_pickle=False``: arrays of Python objects are refused, never unpickled.
Features must be finite (no NaN or infinity, also after the conversion to float32).

Example::

    >>> np.savez("walk.npz", x=np.zeros((5, 3)), lengths=[2, 3], y=[0, 1], label_names=["sit", "walk"])
    >>> [(e.sequence.shape, e.label) for e in read_npz(Path("walk.npz"), LabelRules()).examples]
    [((2, 3), 'sit'), ((3, 3), 'walk')]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnkit.data.examples import Example
from rnnkit.data.formats.base import ExampleSet, LabelRules
from rnnkit.errors import RnnkitError

KEYS = ("x", "lengths", "y", "label_names")


def _load(path: Path) -> dict[str, np.ndarray]:
    """The archive's arrays by key, every error of a damaged or unsafe file turned into an RnnkitError."""
    if not path.exists():
        raise RnnkitError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise RnnkitError(f"{path}: is a directory; give the .npz file")
    if path.stat().st_size == 0:
        raise RnnkitError(f"{path}: the file is empty; give an .npz archive saved with numpy.savez")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises many types for a file that is not an archive; all mean the same
        raise RnnkitError(f"{path}: not an .npz archive ({type(e).__name__}: {e}); save one with numpy.savez"
                          .replace("\n", " ")) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise RnnkitError(f"{path}: a single .npy array, not an .npz archive; save the arrays x, lengths, y "
                          "with numpy.savez")
    arrays = {}
    with archive:
        for key in archive.files:
            if key not in KEYS:
                continue  # other arrays may travel with the data
            try:
                arrays[key] = archive[key]
            except ValueError as e:
                if "allow_pickle" in str(e) or "Object arrays" in str(e):
                    raise RnnkitError(f"{path}: key {key!r} holds pickled Python objects, which rnnkit never loads "
                                      "(allow_pickle=False); save it as a plain numeric or string array") from None
                raise RnnkitError(f"{path}: key {key!r} cannot be read ({e}); save the archive again"
                                  .replace("\n", " ")) from None
            except Exception as e:  # a damaged member: zlib, zip or header errors
                raise RnnkitError(f"{path}: key {key!r} cannot be read ({type(e).__name__}: {e}); save the archive "
                                  "again".replace("\n", " ")) from None
            if not isinstance(arrays[key], np.ndarray):  # a member that is not a .npy file comes back as bytes
                raise RnnkitError(f"{path}: key {key!r} is not a NumPy array; save the archive with numpy.savez")
    return arrays


def _require(arrays: dict, key: str, path: Path, why: str) -> np.ndarray:
    if key not in arrays:
        present = ", ".join(repr(k) for k in arrays) or "none of x, lengths, y, label_names"
        raise RnnkitError(f"{path}: no key {key!r} ({why}); the archive has {present}")
    return arrays[key]


def _integers(a: np.ndarray, key: str, path: Path, n: int | None = None, what: str = "") -> np.ndarray:
    if a.ndim != 1 or a.dtype.kind not in "iub":
        raise RnnkitError(f"{path}: key {key!r} must be a 1-D integer array{what}, got {a.dtype} of shape "
                          f"{a.shape}; convert it with .astype(int)")
    if n is not None and len(a) != n:
        raise RnnkitError(f"{path}: key {key!r} has {len(a)} entries but 'lengths' has {n} sequences; give one "
                          f"{key} per sequence")
    return a.astype(np.int64)


def _features(arrays: dict, path: Path) -> np.ndarray:
    x = _require(arrays, "x", path, "the features, (ΣT, F)")
    if x.ndim != 2 or x.dtype.kind not in "biuf":
        raise RnnkitError(f"{path}: key 'x' must be a 2-D numeric array (ΣT, F), got {x.dtype} of shape {x.shape};"
                          " reshape one-feature data to (ΣT, 1)")
    if x.shape[1] == 0:
        raise RnnkitError(f"{path}: key 'x' has 0 features per step; give at least one feature")
    with np.errstate(over="ignore", invalid="ignore"):
        x = x.astype(np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.argmax(bad.any(axis=1)))
        raise RnnkitError(f"{path}: key 'x' has NaN or infinite values (first at row {row}, or beyond float32's "
                          "range); fill or drop them before training")
    return x


def _label_names(arrays: dict, path: Path) -> list[str] | None:
    if "label_names" not in arrays:
        return None
    a = arrays["label_names"]
    if a.ndim != 1 or a.dtype.kind not in "US" or len(a) == 0:
        raise RnnkitError(f"{path}: key 'label_names' must be a non-empty 1-D string array, got {a.dtype} of "
                          f"shape {a.shape}")
    names = [(n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n)).strip() for n in a.tolist()]
    if "" in names or len(set(names)) != len(names):
        raise RnnkitError(f"{path}: key 'label_names' has an empty or repeated name; give K different names")
    return names


def _lengths(arrays: dict, x: np.ndarray, path: Path) -> np.ndarray:
    """``lengths``, checked: at least one sequence, each of at least one step, summing to the rows of ``x``."""
    lengths = _integers(_require(arrays, "lengths", path, "the length of every sequence"), "lengths", path)
    if len(lengths) == 0:
        raise RnnkitError(f"{path}: key 'lengths' is empty: the archive has no sequences")
    if lengths.min() < 1:
        i = int(np.argmin(lengths))
        raise RnnkitError(f"{path}: key 'lengths' has {int(lengths[i])} at sequence {i}; every sequence needs at "
                          "least one step")
    if int(lengths.sum()) != len(x):
        raise RnnkitError(f"{path}: key 'lengths' sums to {int(lengths.sum())} steps but 'x' has {len(x)} rows; "
                          "x must hold every sequence's steps, one after the other")
    return lengths


def _check_range(y: np.ndarray, names: list[str] | None, path: Path, at: str, what: str) -> None:
    """Every ``y`` a valid index into ``names`` (or >= 0 without names)."""
    high = len(names) if names is not None else None
    bad = (y < 0) | (y >= high) if high is not None else y < 0
    if bad.any():
        i = int(np.argmax(bad))
        bound = f"0 … {high - 1} (label_names has {high})" if high is not None else "0 or more"
        raise RnnkitError(f"{path}: key 'y' has {int(y[i])} at {at} {i}; {what} must be {bound}")


def read_npz(path: Path, rules: LabelRules) -> ExampleSet:
    """Read one ``.npz`` archive of sequences (see module doc)."""
    if rules.multi_label:
        raise RnnkitError(f"{path}: multi-label data cannot be read from .npz (y holds one class per sequence); "
                          "use jsonl or csv with '|'-separated labels")
    arrays = _load(path)
    x = _features(arrays, path)
    lengths = _lengths(arrays, x, path)
    n = len(lengths)
    names = _label_names(arrays, path)
    y = None
    if "y" in arrays or rules.require_labels:
        raw = _require(arrays, "y", path, "the class of every sequence")
        if raw.ndim == 1 and len(raw) == len(x) != n:
            raise RnnkitError(f"{path}: key 'y' has one entry per step (ΣT = {len(x)}), as for tagging; "
                              f"classification needs one per sequence ({n})")
        y = _integers(raw, "y", path, n)
        _check_range(y, names, path, "sequence", "classes")
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    examples = []
    for i, (s, t) in enumerate(zip(starts.tolist(), lengths.tolist())):
        label = None if y is None else (names[y[i]] if names is not None else str(int(y[i])))
        examples.append(Example(x[s: s + t], label, f"{path}[{i}]"))
    return ExampleSet(examples, "features", names, int(x.shape[1]))


def read_npz_steps(path: Path, require_labels: bool) -> tuple[list[np.ndarray], list[tuple[str, ...] | None],
                                                               list[str] | None]:
    """Read an ``.npz`` archive whose ``y`` has one label per step (ΣT,), as for tagging: (each sequence's
    features (T_i, F), each sequence's step labels as names (or None without ``y``), the ``label_names``)."""
    arrays = _load(path)
    x = _features(arrays, path)
    lengths = _lengths(arrays, x, path)
    names = _label_names(arrays, path)
    y = None
    if "y" in arrays or require_labels:
        raw = _require(arrays, "y", path, "the label of every step, (ΣT,)")
        if raw.ndim == 1 and len(raw) == len(lengths) != len(x):
            raise RnnkitError(f"{path}: key 'y' has one entry per sequence ({len(lengths)}), as for classification; "
                              f"tagging needs one per step (ΣT = {len(x)})")
        y = _integers(raw, "y", path)
        if len(y) != len(x):
            raise RnnkitError(f"{path}: key 'y' has {len(y)} entries but 'x' has {len(x)} steps; give one label per "
                              "step")
        _check_range(y, names, path, "step", "labels")
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).tolist()
    seqs = [x[s: s + t] for s, t in zip(starts, lengths.tolist())]
    labels: list[tuple[str, ...] | None] = []
    for s, t in zip(starts, lengths.tolist()):
        labels.append(None if y is None else tuple(names[v] if names is not None else str(int(v))
                                                   for v in y[s: s + t].tolist()))
    return seqs, labels, names
