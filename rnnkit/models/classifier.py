"""A many-to-one recurrent classifier: a whole sequence → one class (or a set of labels)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from rnnkit.cells import cell_factory
from rnnkit.layers import Recurrent
from rnnkit.losses import sequence_cross_entropy, sequence_logistic_loss
from rnnkit.models.features import FeatureTransform
from rnnkit.models.pooling import POOLINGS, AttentionPooling, make_pooling, valid_steps
from rnnkit.output import OutputLayer


@dataclass
class ClassifierConfig:
    """Everything needed to rebuild a :class:`Classifier` (JSON-able); saved as ``config.json["model"]``.

    ``cell`` is a ``--cell`` name, or None when the model was built with a cell factory of the user's own
    (then :meth:`Classifier.from_config` needs that factory passed as ``cell=``).
    """

    num_classes: int
    hidden_size: int = 128
    num_layers: int = 1
    cell: str | None = "lstm"
    bidirectional: bool = True
    pooling: str = "last"
    dropout: float = 0.0
    multi_label: bool = False
    vocab_size: int | None = None
    embedding_size: int | None = None
    one_hot: bool = False
    padding_id: int | None = 0
    num_features: int | None = None
    input_projection: int | None = None
    center_joint: int | None = None
    deltas: bool = False
    cell_options: dict = field(default_factory=dict)
    joint_dims: int = 3
    attention_size: int | None = None
    positions: int | None = None
    input_noise: float = 0.0
    input_dropout: float = 0.0
    time_warp: float = 0.0
    scale_jitter: float = 0.0


class Classifier(nn.Module):
    """``ŷ = g(W_ya pool(a<1> … a<T_x>) + b_y)``: a recurrent stack read whole, pooled to one vector, classified.

    The input is either token ids (``vocab_size``: each id looked up in an embedding of size
    ``embedding_size`` (default ``hidden_size``), or fed as its one-hot vector with ``one_hot=True``) or
    feature vectors (``num_features``: through a :class:`FeatureTransform`, centring on ``center_joint`` and
    appending ``deltas`` as asked, whose statistics must be learned first with ``model.features.fit(...)``,
    then an optional learned linear map to ``input_projection`` components). Then::

        a<t> = Recurrent(x<t>)                      (L layers, D directions, dropout between layers)
        h = pool(a, lengths)                        last | mean | max | attention, see rnnkit.models.pooling
        z = W_ya dropout(h) + b_y                   the logits
        ŷ = softmax(z)   (or σ(z) per label with multi_label)

    ``cell`` is a ``--cell`` name (``rnn``, ``simple-gru``, ``gru``, ``lstm``, ``peephole-lstm``) or a cell
    factory of your own, ``factory(input_size, hidden_size, **cell_options)`` following the cell contract of
    :mod:`rnnkit.cells.base`; only a name can be saved in the config (a factory is stored as None, and must be
    given again to :meth:`from_config`).

    Padding is invisible: with ``lengths``, steps ``t ≥ lengths[b]`` (whatever they hold, ids or features)
    reach neither the recurrent layer nor the pooling, so a sequence's logits do not depend on its batch.

    Shapes (D = 2 if bidirectional else 1, K = num_classes): x (B, T) ids or (B, T, F) features; lengths (B,)
    (default: every sequence fills T); logits (B, K); targets (B,) class ids, or (B, K) 0/1 with multi_label.

    Example::

        model = Classifier(num_classes=2, vocab_size=5000, hidden_size=64, pooling="attention")
        logits = model(torch.randint(5000, (4, 12)), lengths=torch.tensor([12, 9, 5, 3]))   # (4, 2)
        loss = model.loss(logits, torch.tensor([0, 1, 1, 0]))
    """

    def __init__(self, num_classes: int, hidden_size: int = 128, num_layers: int = 1, cell="lstm",
                 bidirectional: bool = True, pooling: str = "last", dropout: float = 0.0, multi_label: bool = False,
                 vocab_size: int | None = None, embedding_size: int | None = None, one_hot: bool = False,
                 padding_id: int | None = 0, num_features: int | None = None, input_projection: int | None = None,
                 center_joint: int | None = None, deltas: bool = False, cell_options: dict | None = None,
                 engine: str = "auto", joint_dims: int = 3, attention_size: int | None = None,
                 positions: int | None = None, input_noise: float = 0.0, input_dropout: float = 0.0,
                 time_warp: float = 0.0, scale_jitter: float = 0.0):
        super().__init__()
        if int(num_classes) < 1 or (not multi_label and int(num_classes) < 2):
            raise ValueError(f"num_classes must be at least 2 (at least 1 with multi_label), got {num_classes}")
        if (vocab_size is None) == (num_features is None):
            raise ValueError("give exactly one of vocab_size (token-id inputs) and num_features (feature-vector "
                             f"inputs), got vocab_size={vocab_size} and num_features={num_features}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}: choose one of {', '.join(POOLINGS)}")
        factory = cell_factory(cell) if isinstance(cell, str) else cell
        if not callable(factory):
            raise ValueError(f"cell must be a --cell name or a cell factory, got {cell!r}")
        self.config = ClassifierConfig(
            int(num_classes), int(hidden_size), int(num_layers), cell if isinstance(cell, str) else None,
            bool(bidirectional), pooling, float(dropout), bool(multi_label), vocab_size, embedding_size,
            bool(one_hot), padding_id, num_features, input_projection, center_joint, bool(deltas),
            dict(cell_options or {}), int(joint_dims), attention_size,
            None if positions is None else int(positions), float(input_noise), float(input_dropout),
            float(time_warp), float(scale_jitter))
        if not 0 <= float(input_dropout) < 1:
            raise ValueError(f"input_dropout must be in [0, 1), got {input_dropout}")
        if positions is not None and int(positions) < 1:
            raise ValueError(f"positions must be a positive number of steps or None, got {positions}")
        if not 0 <= float(input_noise):
            raise ValueError(f"input_noise must be >= 0, got {input_noise}")
        if not 0 <= float(time_warp) < 1 or float(scale_jitter) < 0:
            raise ValueError(f"time_warp must be in [0, 1) and scale_jitter >= 0, got {time_warp} and {scale_jitter}")
        self.embedding = self.features = self.projection = None
        if vocab_size is not None:
            if time_warp or scale_jitter:
                raise ValueError("time_warp and scale_jitter apply to num_features, not to token ids")
            if center_joint is not None or deltas or input_projection is not None:
                raise ValueError("center_joint, deltas and input_projection apply to num_features, not to token ids")
            if int(vocab_size) < 1:
                raise ValueError(f"vocab_size must be positive, got {vocab_size}")
            if padding_id is not None and not 0 <= int(padding_id) < int(vocab_size):
                raise ValueError(f"padding_id must be an id in 0 … {int(vocab_size) - 1} or None, got {padding_id}")
            if one_hot:
                input_size = int(vocab_size)                                  # x<t> = one-hot(id), V components
            else:
                input_size = int(embedding_size or hidden_size)
                self.embedding = nn.Embedding(int(vocab_size), input_size, padding_idx=padding_id)
        else:
            if one_hot or embedding_size is not None:
                raise ValueError("one_hot and embedding_size apply to token ids (vocab_size), not to num_features")
            self.features = FeatureTransform(int(num_features), center_joint, joint_dims, deltas)
            input_size = self.features.output_size
            if input_projection is not None:
                self.projection = nn.Linear(input_size, int(input_projection))
                input_size = int(input_projection)
        self.rnn = Recurrent(factory, input_size, int(hidden_size), num_layers=int(num_layers),
                             bidirectional=bool(bidirectional), dropout=float(dropout), batch_first=True,
                             engine=engine, **self.config.cell_options)
        D = self.rnn.num_directions
        self.pool = make_pooling(pooling, D * int(hidden_size), D, attention_size)
        # p<t>: a learned vector per position t, added to x<t> (for data whose positions mean something, such
        # as fixed windows around a splice site); steps beyond the last one share its vector.
        self.position = None if positions is None else nn.Embedding(int(positions), input_size)
        if self.position is not None:
            nn.init.normal_(self.position.weight, std=0.1)
        self.drop = nn.Dropout(float(dropout))
        self.head = OutputLayer(D * int(hidden_size), int(num_classes),
                                activation="sigmoid" if multi_label else "softmax")

    @classmethod
    def from_config(cls, config: ClassifierConfig | dict, cell=None, engine: str = "auto") -> Classifier:
        """Rebuild from a config (or its dict). ``cell``: the cell factory, needed when ``config.cell`` is None
        (the model was built with a cell of the user's own); it overrides a stored name when given."""
        config = asdict(config) if isinstance(config, ClassifierConfig) else dict(config)
        if cell is None and config.get("cell") is None:
            raise ValueError("this classifier was built with a cell factory of the user's own, which a config "
                             "cannot hold: pass it again, Classifier.from_config(config, cell=my_factory)")
        if cell is not None:
            config["cell"] = cell
        return cls(**config, engine=engine)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def inputs(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x<t>`` for the recurrent layer: ids (B, T) or features (B, T, F) → (B, T, X), padding made inert;
        plus the position vectors ``p<t>`` and, when training, Gaussian noise of ``input_noise`` (in units of
        the standardised features, or of the embedding) and dropout of ``input_dropout`` (of whole token
        vectors for ids, of single components for features), when asked for."""
        x = self._inputs(x, lengths)
        if self.position is not None:
            t = torch.arange(x.shape[1], device=x.device).clamp(max=self.position.num_embeddings - 1)
            x = x + self.position(t)                                           # x<t> + p<t>
        if self.training and self.config.input_noise > 0:
            x = x + self.config.input_noise * torch.randn_like(x)
        if self.training and self.config.input_dropout > 0:
            p = self.config.input_dropout
            if self.features is None:   # token ids: whole words are dropped (their vector zeroed), as in
                keep = torch.rand(*x.shape[:2], 1, device=x.device) >= p        # embedding dropout
                x = x * keep.to(x.dtype) / (1 - p)
            else:
                x = nn.functional.dropout(x, p, training=True)
        return x

    def _inputs(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        valid = valid_steps(lengths, x.shape[1])                              # (B, T)
        if self.features is not None:
            if x.dim() != 3:
                raise ValueError(f"this classifier reads feature vectors (B, T, F), got shape {tuple(x.shape)}")
            x = self.features(x, lengths)                                     # zero past each end
            return x if self.projection is None else self.projection(x)
        if x.dim() != 2 or x.dtype.is_floating_point:
            raise ValueError(f"this classifier reads token ids (B, T) of an integer dtype, got shape "
                             f"{tuple(x.shape)} and dtype {x.dtype}")
        ids = x.masked_fill(~valid, self.config.padding_id or 0)              # any padding value is fine
        if self.embedding is None:
            return nn.functional.one_hot(ids, self.config.vocab_size).to(self.head.W_ya.dtype)
        return self.embedding(ids)

    def encode(self, x: torch.Tensor, lengths: torch.Tensor | None = None):
        """(the top layer's outputs (B, T, D·H), the final state (None for a padded batch), lengths (B,)) for
        ids or features ``x``."""
        B, T = x.shape[:2]
        lengths, full = self._check_lengths(lengths, B, T, x.device)
        if self.training and (self.config.time_warp > 0 or self.config.scale_jitter > 0):
            x, lengths = augment_features(x, lengths, self.config.time_warp, self.config.scale_jitter)
            full = bool((lengths == x.shape[1]).all())
        x = self.inputs(x, lengths)
        # A batch without padding (common under length bucketing) runs the layer without lengths; a padded one
        # through Recurrent.outputs (each direction unmasked, the backward one over each sequence reversed in
        # its length). Both give what the masked loop gives, on the engine's faster unpadded paths; the pooling
        # reads the final states from the outputs when there is no state.
        if full:
            outputs, state = self.rnn(x)
            return outputs, state, lengths
        return self.rnn.outputs(x, lengths), None, lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The logits ``z = W_ya h + b_y``: (B, T) ids or (B, T, F) features → (B, K)."""
        outputs, state, lengths = self.encode(x, lengths)
        return self.head(self.drop(self.pool(outputs, lengths, state)))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``ŷ``: softmax over the K classes (rows sum to 1), or σ per label with ``multi_label``: (B, K)."""
        z = self(x, lengths)
        return torch.sigmoid(z) if self.config.multi_label else torch.softmax(z, dim=-1)

    @torch.no_grad()
    def attention_weights(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """α (B, T) of ``attention`` pooling: how much each step counts (0 on padded steps; rows sum to 1)."""
        if not isinstance(self.pool, AttentionPooling):
            raise ValueError(f"attention weights exist only with pooling='attention', not {self.config.pooling!r}")
        outputs, _, lengths = self.encode(x, lengths)
        return self.pool.weights(outputs, lengths)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Cross-entropy ``−log ŷ[y]`` for class ids (B,), or with ``multi_label`` the logistic loss summed over
        the labels, ``Σ_k −y_k log ŷ_k − (1 − y_k) log(1 − ŷ_k)``, for (B, K) 0/1 targets; ``reduction``: the
        ``"mean"`` or the ``"sum"`` over the batch (or ``"none"``: the (B,) losses)."""
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        B, K = logits.shape
        if self.config.multi_label:
            if tuple(targets.shape) != (B, K):
                raise ValueError(f"multi-label targets must be (B, K) = ({B}, {K}) 0/1 values, "
                                 f"got shape {tuple(targets.shape)}")
            # one time step: rnnkit.losses with T = 1 gives the (1, B) per-example losses
            losses = sequence_logistic_loss(logits.unsqueeze(0), targets.unsqueeze(0), reduction="none")[0]
        else:
            if tuple(targets.shape) != (B,) or targets.dtype.is_floating_point:
                raise ValueError(f"targets must be (B,) = ({B},) class ids, got shape {tuple(targets.shape)} and "
                                 f"dtype {targets.dtype}")
            losses = sequence_cross_entropy(logits.unsqueeze(0), targets.unsqueeze(0), reduction="none")[0]
        if reduction == "none":
            return losses
        return losses.sum() if reduction == "sum" else losses.mean()

    @staticmethod
    def _check_lengths(lengths, B: int, T: int, device) -> tuple[torch.Tensor, bool]:
        """(lengths (B,) long, whether every sequence fills all T steps)."""
        if lengths is None:
            return torch.full((B,), T, dtype=torch.long, device=device), True
        lengths = torch.as_tensor(lengths, device=device)
        if lengths.shape != (B,) or lengths.is_floating_point():
            raise ValueError(f"lengths must be a (B,) = ({B},) integer tensor, got shape {tuple(lengths.shape)} "
                             f"and dtype {lengths.dtype}")
        low, high = (int(v) for v in torch.aminmax(lengths)) if B else (T, T)
        if low < 1 or high > T:
            raise ValueError(f"lengths must be in 1 … T = {T}, got min {low} and max {high}")
        return lengths.to(torch.long), low == T


def augment_features(x: torch.Tensor, lengths: torch.Tensor, time_warp: float, scale_jitter: float):
    """Random variations of raw feature sequences while training (time-series augmentation): each sequence
    played at its own speed, its length scaled by ``s`` drawn log-uniformly in ``[1 − time_warp, 1/(1 −
    time_warp)]`` (linear interpolation between steps), and its values scaled about their mean over the
    sequence by ``1 + scale_jitter · N(0, 1)`` (a body of another size for skeletons, a stronger or gentler
    movement for motion sensors). Draws come from torch's generator, as dropout's do.

    x (B, T, F), lengths (B,) → (x' (B, T', F) zero past each new end, lengths' (B,))."""
    B, T, F = x.shape
    valid = valid_steps(lengths, T).unsqueeze(-1)                                  # (B, T, 1)
    x = x.masked_fill(~valid, 0.0)                                                 # whatever padding holds
    if scale_jitter > 0:
        mean = x.sum(1, keepdim=True) / lengths.view(B, 1, 1).to(x.dtype)
        s = 1 + scale_jitter * torch.randn(B, 1, 1, device=x.device, dtype=x.dtype)
        x = (mean + s * (x - mean)).masked_fill(~valid, 0.0)
    if time_warp <= 0:
        return x, lengths
    low = torch.log(torch.tensor(1 - time_warp))
    speed = torch.exp(low * (2 * torch.rand(B, device=x.device) - 1))             # length × speed
    new = (lengths.to(torch.float64) * speed.double()).round().clamp(min=1).to(torch.long)
    T2 = int(new.max())
    u = torch.arange(T2, device=x.device, dtype=torch.float64).expand(B, T2)      # (B, T')
    src = u * ((lengths - 1).clamp(min=0).double() / (new - 1).clamp(min=1).double()).unsqueeze(1)
    src = torch.minimum(src, (lengths - 1).double().unsqueeze(1))
    i0 = src.floor().long()
    i1 = torch.minimum(i0 + 1, (lengths - 1).unsqueeze(1))
    w = (src - i0.double()).to(x.dtype).unsqueeze(-1)
    pick = lambda i: torch.gather(x, 1, i.unsqueeze(-1).expand(B, T2, F))
    out = pick(i0) * (1 - w) + pick(i1) * w
    out = out * valid_steps(new, T2).unsqueeze(-1).to(x.dtype)
    return out, new
