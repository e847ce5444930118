"""What every picture of the metrics shares: matplotlib when it is installed, and an atomic PNG write."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def save_png(fig, path: str | Path, dpi: int = 110) -> None:
    """Write ``fig`` to ``path`` atomically (its folder made if missing), then close it."""
    from rnnkit.fileio import atomic_open

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=dpi)
    import matplotlib.pyplot as plt

    plt.close(fig)
