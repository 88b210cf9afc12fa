"""The files an evaluation leaves in the run directory (docs/run-directory.md), and their W&B tables.

A Lightning callback, so the LightningModule does no file I/O: after each validation it
appends the layers' mean coefficients to ``coefficient_curves.csv``; after the test it writes
``coefficients.csv``, ``class_coefficients.csv`` and ``class_layer_coefficients.csv`` (CoST(b)
only: CoST(a) has one coefficient set for every clip, so no class ranking), the figures,
``predictions.csv``, ``class_accuracy.csv`` and ``confusion.csv``, and logs them as W&B tables and
images. Rank zero only; it reads the module's ``val_results`` / ``test_results``.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_warn

from cost.analysis import plots

from . import coefficients as coefs
from . import predictions

COEFFICIENT_FIGURES = ("coefficients_per_layer.png", "class_temporal_importance.png", "class_layer_temporal.png")


class EvaluationOutputs(pl.Callback):
    """Writes the coefficient and prediction files of ``VideoClassifier`` evaluations to ``output_dir``."""

    def __init__(self, output_dir: str | Path) -> None:
        self.output_dir = Path(output_dir)

    # on_*_end, not on_*_epoch_end: Lightning calls the callbacks' epoch-end hooks before the
    # module's, which computes the results.
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        res = pl_module.val_results
        if trainer.sanity_checking or not trainer.is_global_zero or res is None or not res["coef_rows"]:
            return
        step = int(pl_module.global_step)
        curve = [{"step": step, "layer": r["layer"], "view": r["view"], "mean": r["mean"]} for r in res["coef_rows"]]
        coefs.write_csv(self.output_dir / "coefficient_curves.csv", curve, coefs.CURVE_COLUMNS, append=True)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        res = pl_module.test_results
        if not trainer.is_global_zero or res is None:
            return
        class_names = pl_module.class_names or []
        if res["coef_rows"]:
            class_layer = res.get("class_layer_rows") or []
            self._write_coefficients(res["coef_rows"], res["class_rows"], class_layer)
            self._log_coefficient_tables(trainer.loggers, res["coef_rows"], res["class_rows"], class_layer)
        datasets = getattr(getattr(trainer, "datamodule", None), "datasets", None)
        test_set = datasets.get("test") if isinstance(datasets, dict) else None
        paths = [
            test_set.manifest.path(int(i)) if test_set is not None else str(int(i)) for i in res["index"].reshape(-1)
        ]
        tables = predictions.write_test_files(self.output_dir, res, paths, class_names, res["class_rows"])
        predictions.log_tables(trainer.loggers, tables, self.output_dir / "figures" / predictions.CONFUSION_FIGURE)

    def _write_coefficients(self, rows: list[dict], class_rows: list[dict], class_layer: list[dict]) -> None:
        """coefficients.csv and figures/ (CoST models); the class files and figures only when
        the coefficients can differ between classes (CoST(b))."""
        coefs.write_csv(self.output_dir / "coefficients.csv", rows, coefs.layer_columns(rows))
        run = self.output_dir.name
        figures = self.output_dir / "figures"
        plots.plot_layer_coefficients(
            rows, figures / COEFFICIENT_FIGURES[0], title=f"View importance per CoST layer: {run}"
        )
        if class_rows:
            coefs.write_csv(self.output_dir / "class_coefficients.csv", class_rows, coefs.CLASS_COLUMNS)
            note = coefs.magnitude_warning(coefs.magnitude_correlation(class_layer))
            plots.plot_class_ranking(
                class_rows, figures / COEFFICIENT_FIGURES[1], title=f"Temporal importance: {run}", note=note
            )
        if class_layer:
            coefs.write_csv(self.output_dir / "class_layer_coefficients.csv", class_layer, coefs.CLASS_LAYER_COLUMNS)
            plots.plot_class_layer_heatmap(
                class_layer, figures / COEFFICIENT_FIGURES[2], title=f"Temporal importance per class and layer: {run}"
            )

    def _log_coefficient_tables(
        self, loggers: list, rows: list[dict], class_rows: list[dict], class_layer: list[dict]
    ) -> None:
        """The coefficient tables and figures as W&B objects (when a W&B logger is attached)."""
        for logger in loggers:
            if not isinstance(logger, WandbLogger):
                continue
            try:
                columns = coefs.layer_columns(rows)
                logger.log_table("test/coef/layers", columns=columns, data=[[r[c] for c in columns] for r in rows])
                if class_rows:
                    logger.log_table(
                        "test/coef/classes",
                        columns=coefs.CLASS_COLUMNS,
                        data=[[r[c] for c in coefs.CLASS_COLUMNS] for r in class_rows],
                    )
                if class_layer:
                    logger.log_table(
                        "test/coef/class_layers",
                        columns=coefs.CLASS_LAYER_COLUMNS,
                        data=[[r[c] for c in coefs.CLASS_LAYER_COLUMNS] for r in class_layer],
                    )
                figs = [p for name in COEFFICIENT_FIGURES if (p := self.output_dir / "figures" / name).is_file()]
                if figs:
                    logger.log_image("test/coef/figures", images=[str(p) for p in figs])
            except Exception as err:  # noqa: BLE001 - W&B trouble must not lose the results
                rank_zero_warn(f"could not log coefficient tables to W&B: {err}")


def keep_curves_up_to(output_dir: Path, step: int) -> None:
    """A resumed run keeps the coefficient curve rows up to its checkpoint's step."""
    path = Path(output_dir) / "coefficient_curves.csv"
    if path.is_file():
        rows = [r for r in coefs.read_csv(path) if r["step"] <= step]
        coefs.write_csv(path, rows, coefs.CURVE_COLUMNS)
