"""Where ``model.pretrained`` points: ImageNet weights by name, URL or local file.

``imagenet`` means torchvision's ResNet-50/101 ImageNet weights (IMAGENET1K_V1, the classic
recipe) for the model's depth. They are fetched once into the torch hub cache
(``$TORCH_HOME/hub/checkpoints``, the same file torchvision itself would use). Any other http(s)
URL is cached in a folder named by a hash of the URL, so two URLs never share a file. A local
path or ``file://`` URL is read where it is, never copied. Whenever a file is used, a name that
carries a SHA-256 prefix (torchvision's ``name-<hex>.pth``) is checked against its bytes.
``none`` trains from scratch on purpose; ``null`` is left for the preset to decide and is
refused at paper scale.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

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


def _hash_prefix(name: str) -> str | None:
    match = _HASH_IN_NAME.search(name)
    return match.group(1) if match else None


def _check_hash(path: Path, what: str, fix: str) -> Path:
    """``path`` if its bytes match the SHA-256 prefix its name carries (or it carries none)."""
    prefix = _hash_prefix(path.name)
    if prefix and not _sha256(path).startswith(prefix):
        raise RuntimeError(
            f"model.pretrained: {what} {path} does not match the SHA-256 prefix {prefix} in its name: "
            f"the file is damaged or not the one its name says; {fix}"
        )
    return path


def fetch(url: str, cache_dir: str | Path | None = None, progress: bool = True) -> Path:
    """The file at ``url`` in the hub cache, downloaded once and checked against the hash
    prefix in its name (``resnet50-0676ba61.pth``) on every use. torchvision's ImageNet files
    keep torchvision's place; any other URL gets a folder named by a hash of the URL, so a
    file of the same name from another URL is never taken for it."""
    name = Path(urlparse(url).path).name
    if not name:
        raise ValueError(f"model.pretrained={url}: the URL names no file")
    folder = Path(cache_dir) if cache_dir else Path(torch.hub.get_dir()) / "checkpoints"
    if url not in IMAGENET_URLS.values():
        folder = folder / hashlib.sha256(url.encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / name
    if not dest.is_file():
        print(f"downloading {url} to {dest}", flush=True)
        # Writes a temporary file next to dest, checks the hash, then renames: a failed or
        # wrong download leaves no file behind.
        torch.hub.download_url_to_file(url, str(dest), hash_prefix=_hash_prefix(name), progress=progress)
        return dest
    return _check_hash(dest, "the cached file", f"delete it and the run downloads {url} again")


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
    parsed = urlparse(text)
    if parsed.scheme in ("http", "https"):
        return str(fetch(text))
    path = Path(url2pathname(parsed.path)) if parsed.scheme == "file" else Path(text).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"model.pretrained={value}: no such file; give imagenet, a URL, a torchvision-layout "
            "ResNet state dict, or none to train from scratch"
        )
    fix = "use the right file, or rename it if that part of its name is not a hash"
    return str(_check_hash(path, "the file", fix))


def check_paper_scale(value, depth) -> None:
    """At ResNet-50/101 the paper starts from ImageNet; from scratch must be asked for."""
    if value is None and str(depth) in {str(d) for d in PAPER_DEPTHS}:
        raise ValueError(
            f"model.pretrained is null for a ResNet-{depth}: the paper initialises from ImageNet. "
            "Set model.pretrained=imagenet (the paper's recipe; the data presets do), a weights "
            "file, or model.pretrained=none to train from scratch deliberately"
        )
