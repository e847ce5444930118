"""The tasks: what is particular to each (its data, objective, metrics and predictions), one module each.

Each module gives a :class:`rnnkit.training.driver.TrainTask` for ``rnnkit TASK train`` and the functions its
other verbs use; the trainer, the driver and the data layer are shared.
"""
