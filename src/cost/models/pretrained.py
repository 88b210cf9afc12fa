"""Where ``model.pretrained`` points: ImageNet weights by name, URL or local file.

``imagenet`` means torchvision's ResNet-50/101 ImageNet weights (IMAGENET1K_V1, the classic
recipe) for the model's depth. They are fetched once into the torch hub cache
(``$TORCH_HOME/hub/checkpoints``, the same file torchvision itself would use) and checked
against the SHA-256 prefix that torchvision puts in the file name. ``none`` trains from scratch
on purpose; ``null`` is left for the preset to decide and is refused at paper scale.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import urlparse

import torch

# torchvision.models.ResNet50_Weights.IMAGENET1K_V1 / ResNet101_Weights.IMAGENET1K_V1
IMAGENET_URLS = {
    50: "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    101: "https://download.pytorch.org/models/resnet101-63fe2227.pth",
}
SCRATCH = ("none", "scratch")
PAPER_DEPTHS = (50, 101)
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")


def is_scratch(value) -> bool:
    """``model.pretrained=none``: from scratch, deliberately."""
    return value is False or str(value).lower() in SCRATCH


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, cache_dir: str | Path | None = None, progress: bool = True) -> Path:
    """The file at ``url`` in the hub cache, downloaded once and checked against the hash
    prefix in its name (``resnet50-0676ba61.pth``). A cached file is checked too, so a
    truncated or replaced file is reported, not loaded."""
    name = Path(urlparse(url).path).name
    if not name:
        raise ValueError(f"model.pretrained={url}: the URL names no file")
    match = _HASH_IN_NAME.search(name)
    prefix = match.group(1) if match else None
    folder = Path(cache_dir) if cache_dir else Path(torch.hub.get_dir()) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / name
    if not dest.is_file():
        print(f"downloading {url} to {dest}", flush=True)
        # Writes a temporary file next to dest, checks the hash, then renames: a failed or
        # wrong download leaves no file behind.
        torch.hub.download_url_to_file(url, str(dest), hash_prefix=prefix, progress=progress)
    elif prefix and not _sha256(dest).startswith(prefix):
        raise RuntimeError(
            f"{dest} does not match the SHA-256 prefix {prefix} in its name: the cached file is "
            f"damaged or not the published one; delete it and the run downloads {url} again"
        )
    return dest


def resolve(value, depth) -> str | None:
    """``model.pretrained`` as a local file path, or None for no ImageNet initialisation."""
    if value is None or is_scratch(value):
        return None
    text = str(value)
    if text.lower() == "imagenet":
        try:
            url = IMAGENET_URLS[int(depth)]
        except (KeyError, ValueError):
            raise ValueError(
                f"model.pretrained=imagenet: there are ImageNet weights for model.depth "
                f"{' or '.join(map(str, IMAGENET_URLS))}, not {depth!r}; use model.pretrained=none"
            ) from None
        return str(fetch(url))
    if urlparse(text).scheme in ("http", "https", "file"):
        return str(fetch(text))
    path = Path(text).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"model.pretrained={value}: no such file; give imagenet, a URL, a torchvision-layout "
            "ResNet state dict, or none to train from scratch"
        )
    return str(path)


def check_paper_scale(value, depth) -> None:
    """At ResNet-50/101 the paper starts from ImageNet; from scratch must be asked for."""
    if value is None and str(depth) in {str(d) for d in PAPER_DEPTHS}:
        raise ValueError(
            f"model.pretrained is null for a ResNet-{depth}: the paper initialises from ImageNet. "
            "Set model.pretrained=imagenet (the paper's recipe; the data presets do), a weights "
            "file, or model.pretrained=none to train from scratch deliberately"
        )
