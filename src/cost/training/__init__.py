"""Training and evaluation: the LightningModule (``module``), exact video metrics, coefficient
statistics, the run directory's files and the run flows (``runner``).

Importing the package imports none of its modules (no Lightning, torchmetrics or matplotlib);
import the module you need.
"""
