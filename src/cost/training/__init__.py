"""Training and evaluation: the LightningModule (``module``), exact video metrics, the
coefficients read from the network, the run directory and the run flows (``runner``). The files
a run writes go through ``cost.results``; nothing here imports ``cost.analysis``.

Importing the package imports none of its modules (no Lightning, torchmetrics or matplotlib);
import the module you need.
"""
