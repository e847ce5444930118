"""Tools that show what happens inside backpropagation through time."""

from rnnkit.diagnostics.gradient_flow import input_gradient_norms, plot_gradient_flow

__all__ = ["input_gradient_norms", "plot_gradient_flow"]
