"""Training and evaluation: the LightningModule, exact video metrics, coefficient statistics."""

from .config import register_resolvers
from .metrics import VideoMetrics
from .module import VideoClassifier, build_net

__all__ = ["VideoClassifier", "VideoMetrics", "build_net", "register_resolvers"]
