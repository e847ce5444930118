"""Tools that show what happens inside backpropagation through time."""

from rnnkit.diagnostics.gradient_flow import (
    StateCurve,
    decades_lost,
    input_gradient_norms,
    plot_gradient_flow,
    state_gradient_norms,
)

__all__ = ["StateCurve", "decades_lost", "input_gradient_norms", "plot_gradient_flow", "state_gradient_norms"]
