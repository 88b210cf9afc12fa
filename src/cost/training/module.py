"""The LightningModule: any `build_model` network, cross-entropy (label smoothing, mixup/CutMix
opt-in), the optim recipes, exact metrics.

The network is built in `setup` once the data module knows the number of classes (so one
config runs on any dataset); `num_classes` is then saved in the hyper-parameters so a
checkpoint rebuilds the same network. No file I/O: the results (``val_results``,
``test_results``) are written by ``outputs.EvaluationOutputs`` and ``report`` (the files:
docs/run-directory.md).
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import rank_zero_info
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from cost import checkpoints
from cost.data.transforms import finish_batch
from cost.models import cost_layers
from cost.models.factory import build_net

from . import coefficients as coefs
from .metrics import VideoMetrics
from .schedules import OptimConfig, batch_recipe, build_optimizer, describe_recipe


def mix_clips(clips: torch.Tensor, label: torch.Tensor, num_classes: int, mixup_alpha: float, cutmix_alpha: float):
    """Mixup or CutMix of a training batch of clips (N x C x T x H x W) with the batch rolled
    by one; with both on, each batch takes one at random. One lambda ~ Beta(alpha, alpha) per
    batch, the same over every frame of a clip; CutMix pastes the same box into every frame and
    its lambda is the share of the frame left uncut. Returns the clips, the soft targets
    (lambda x own one-hot + (1 - lambda) x the other clip's) and lambda."""
    cutmix = cutmix_alpha > 0 and (mixup_alpha <= 0 or bool(torch.rand(()) < 0.5))
    alpha = cutmix_alpha if cutmix else mixup_alpha
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    other = clips.roll(1, dims=0)
    if cutmix:
        h, w = clips.shape[-2:]
        cut_h, cut_w = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
        cy, cx = int(torch.randint(h, ())), int(torch.randint(w, ()))
        y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
        x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
        clips = clips.clone()
        clips[..., y0:y1, x0:x1] = other[..., y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
    else:
        clips = clips * lam + other * (1.0 - lam)
    one_hot = F.one_hot(label, num_classes).to(clips.dtype if clips.is_floating_point() else torch.float32)
    return clips, one_hot * lam + one_hot.roll(1, dims=0) * (1.0 - lam), lam


def _batchnorms(net: nn.Module):
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


class VideoClassifier(pl.LightningModule):
    """Train/validate/test a video network; its last results stay in ``val_results``/``test_results``.

    Args:
        model: the model config (``cost.models.build_model`` keyword arguments).
        optim: the recipe (see ``conf/optim``).
        num_classes: known up front, or taken from the data module in ``setup``.
        freeze_bn: keep every BatchNorm in eval mode with frozen affine (32-frame fine-tuning).
        init_checkpoint: start from this checkpoint's network weights (not its optimizer).
        eval_chunk: forward at most this many clips at once at evaluation (0 = all views).
        test_average: how a video's views are combined: mean of softmax scores (the paper's
            [reading]) or softmax of the mean logits.
        clip: the clip settings the network was trained on (num_frames, frame_stride,
            test_short_side, train_crop); eval.py and predict.py take them from the checkpoint.
    """

    def __init__(
        self,
        model: dict,
        optim: dict,
        num_classes: int | None = None,
        class_names: list[str] | None = None,
        freeze_bn: bool = False,
        init_checkpoint: str | None = None,
        eval_chunk: int = 0,
        batch_size: int | None = None,
        test_average: str = "softmax",
        clip: dict | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net: nn.Module | None = None
        self.class_names = list(class_names) if class_names else None
        self.test_results: dict | None = None
        self.val_results: dict | None = None
        self.recipe: dict | None = None  # batch and lr actually used (configure_optimizers)
        self._skipped: list[str] = []
        if num_classes:
            self._build(int(num_classes))

    # ---------------------------------------------------------------- construction
    def _build(self, num_classes: int) -> None:
        self.hparams.num_classes = num_classes
        self.net = build_net(self.hparams.model, num_classes, log=rank_zero_info)
        if self.hparams.init_checkpoint:
            self._load_init(self.hparams.init_checkpoint)
        if self.hparams.freeze_bn:
            for bn in _batchnorms(self.net):
                for p in bn.parameters():
                    p.requires_grad_(False)
        layers = cost_layers(self.net)
        self.layers = layers
        self.train_top1 = MulticlassAccuracy(num_classes, top_k=1, average="micro")
        self.train_top5 = MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro")
        self.val_metrics = VideoMetrics(num_classes, len(layers), self.hparams.test_average)
        self.test_metrics = VideoMetrics(num_classes, len(layers), self.hparams.test_average)
        if self.class_names is None:
            self.class_names = [str(i) for i in range(num_classes)]

    def _load_init(self, path: str) -> None:
        checkpoints.load_network(self.net, path, "frames.init_checkpoint")
        rank_zero_info(f"initialised the network from {path}")

    def setup(self, stage: str) -> None:
        if self._trainer is not None and self.trainer.strategy.root_device.type == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 for the matmuls bf16 autocast leaves in fp32
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is not None and getattr(dm, "class_names", None):
            self.class_names = list(dm.class_names)
        if self.net is not None and getattr(dm, "num_classes", None) not in (None, self.hparams.num_classes):
            raise ValueError(
                f"the data has {dm.num_classes} classes but the network was built for "
                f"{self.hparams.num_classes} (the checkpoint's): evaluate it on its own dataset"
            )
        if self.net is None:
            if dm is None or getattr(dm, "num_classes", None) is None:
                raise RuntimeError("num_classes unknown: pass it or use a data module with .num_classes")
            self._build(int(dm.num_classes))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Class names travel with the weights (src/predict.py names its predictions)."""
        checkpoint["class_names"] = list(self.class_names or [])

    def train(self, mode: bool = True):
        """Frozen BatchNorm stays in eval mode (running statistics unchanged) while training."""
        super().train(mode)
        if mode and self.hparams.freeze_bn and self.net is not None:
            for bn in _batchnorms(self.net):
                bn.eval()
        return self

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """With data.device_transforms the loader ships uint8 frames: scale, crop, flip and
        normalise them here, batched on the model's device; then the memory format."""
        if not isinstance(batch, dict):
            return batch
        batch = finish_batch(batch)
        if self.hparams.model.get("channels_last") and batch["clips"].dim() == 5:
            batch["clips"] = batch["clips"].contiguous(memory_format=torch.channels_last_3d)
        return batch

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.net(clips)

    # ---------------------------------------------------------------- training
    def training_step(self, batch, batch_idx):
        clips, label = batch["clips"], batch["label"]
        o = OptimConfig.of(self.hparams.optim)
        target = label
        if o.mixup_alpha > 0 or o.cutmix_alpha > 0:
            clips, target, _ = mix_clips(clips, label, self.hparams.num_classes, o.mixup_alpha, o.cutmix_alpha)
        logits = self.net(clips)
        loss = F.cross_entropy(logits, target, label_smoothing=float(o.label_smoothing))
        top1 = self.train_top1(logits.detach(), label) * 100
        top5 = self.train_top5(logits.detach(), label) * 100
        n = clips.shape[0]
        self.log("train/loss", loss, prog_bar=True, sync_dist=True, batch_size=n)
        self.log("train/top1", top1, prog_bar=True, sync_dist=True, batch_size=n)
        self.log("train/top5", top5, sync_dist=True, batch_size=n)
        return loss

    def configure_optimizers(self):
        world = max(1, self.trainer.world_size)
        accumulate = max(1, int(self.trainer.accumulate_grad_batches))
        per_device = self.hparams.batch_size or getattr(self.trainer.datamodule, "batch_size", None) or 1
        self.recipe = batch_recipe(self.hparams.optim, int(per_device), world, accumulate)
        if self.trainer.is_global_zero:
            print(describe_recipe(self.recipe), flush=True)
        for logger in self.loggers:
            logger.log_hyperparams({f"recipe/{k}": v for k, v in self.recipe.items()})
        total_steps = int(self.trainer.estimated_stepping_batches)
        return build_optimizer(self.net, self.hparams.optim, self.recipe["total_batch"], total_steps)

    # ---------------------------------------------------------------- evaluation
    def _eval_step(self, batch, metric: VideoMetrics) -> None:
        self._skipped.extend(batch.get("skipped", []) or [])
        clips = batch["clips"]
        if clips.dim() == 5:  # one view per video
            clips = clips.unsqueeze(1)
        n, v = clips.shape[:2]
        if n == 0:
            return
        flat = clips.flatten(0, 1)  # video-major: video 0's views, then video 1's, ...
        chunk = int(self.hparams.eval_chunk) or flat.shape[0]
        logits, clip_coef, clip_stats = [], [], []
        for start in range(0, flat.shape[0], chunk):
            logits.append(self.net(flat[start : start + chunk]))
            if self.layers:
                clip_coef.append(coefs.clip_coefficients(self.layers))
                clip_stats.append(coefs.clip_statistics(self.layers))
        logits = torch.cat(logits).view(n, v, -1)
        coef = coefs.video_coefficients(torch.cat(clip_coef), n, v) if clip_coef else None
        stats = coefs.video_coefficients(torch.cat(clip_stats), n, v) if clip_stats else None
        metric.update(logits, batch["label"], batch["index"], coef, stats)

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, self.val_metrics)

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, self.test_metrics)

    def on_validation_epoch_start(self) -> None:
        self.val_metrics.reset()
        self._skipped = []

    def on_test_epoch_start(self) -> None:
        self.test_metrics.reset()
        self._skipped = []

    def _gather_skipped(self) -> list[str]:
        """Every skipped test item of all ranks (a video listed twice is there twice)."""
        skipped = list(self._skipped)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            gathered = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, skipped)
            skipped = [s for part in gathered for s in part]
        return sorted(skipped)

    def _finish(self, metric: VideoMetrics, prefix: str) -> dict:
        res = metric.compute()
        metric.reset()
        # statistics and files on CPU; torchmetrics squeezes a one-video label to 0-d
        res["coef"], res["stats"], res["label"] = res["coef"].cpu(), res["stats"].cpu(), res["label"].cpu().reshape(-1)
        skipped = self._gather_skipped()
        res["skipped_videos"], res["num_skipped"] = sorted(set(skipped)), len(skipped)
        rows = coefs.layer_rows(self.layers, res["coef"])
        res["coef_rows"] = rows
        values = {f"{prefix}/{k}": res[k] for k in ("top1", "top5", "average")}
        values[f"{prefix}/num_videos"] = float(res["num_videos"])
        # Already identical on every rank (computed from the gathered states); the mean over
        # ranks of equal values changes nothing and keeps Lightning's DDP check quiet.
        for key, value in values.items():
            self.log(key, float(value), prog_bar=key.endswith("top1"), sync_dist=True)
        if rows and not self.trainer.sanity_checking:
            # {val,test}/coef/... at the optimizer step, the step of coefficient_curves.csv
            # (self.log would put a validation one step earlier).
            for logger in self.loggers:
                logger.log_metrics(coefs.scalars(rows, f"{prefix}/coef"), step=int(self.global_step))
        return res

    def on_validation_epoch_end(self) -> None:
        self.val_results = self._finish(self.val_metrics, "val")

    def on_test_epoch_end(self) -> None:
        res = self._finish(self.test_metrics, "test")
        datasets = getattr(getattr(self.trainer, "datamodule", None), "datasets", None)
        expected = len(datasets["test"]) if isinstance(datasets, dict) and "test" in datasets else None
        limit = self.trainer.limit_test_batches  # Lightning: an int is a batch count, a float a fraction
        if isinstance(limit, int) or (limit is not None and limit < 1.0) or self.trainer.fast_dev_run:
            expected = None  # a partial test run is not checked against the split
        if expected is not None and res["num_videos"] + res["num_skipped"] != int(expected):
            raise RuntimeError(
                f"evaluated {res['num_videos']} videos (+{res['num_skipped']} skipped) "
                f"but the test split has {expected}: the test loader lost or repeated videos"
            )
        # CoST(a)'s coefficients are the same for every clip: no per-class statistics to rank.
        ranks = not coefs.clip_independent(self.layers)
        names = self.class_names or []
        res["class_rows"] = coefs.class_rows(res["coef"], res["label"], names) if ranks else []
        res["class_layer_rows"] = (
            coefs.class_layer_rows(res["coef"], res["stats"], res["label"], names) if ranks and self.layers else []
        )
        self.test_results = res
