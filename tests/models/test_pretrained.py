"""model.pretrained: ImageNet weights by name through the hub cache with a hash check, URLs
cached apart from each other, local files read where they are (file:// URLs stand in for the
server here: nothing downloads in the tests), and the paper-scale guard."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from cost.models import pretrained
from tests.helpers.models import imagenet_like, static_clip


def _published(tmp_path: Path, stem: str, state: dict, damage: bool = False) -> Path:
    """A weights file named like torchvision's (<stem>-<first 8 hex of its SHA-256>.pth)."""
    raw = tmp_path / "raw.pth"
    torch.save(state, raw)
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()[:8]
    if damage:
        digest = f"{(int(digest, 16) + 1) % 16**8:08x}"  # another hash: the file is not what its name says
    server = tmp_path / "server"
    server.mkdir(exist_ok=True)
    path = server / f"{stem}-{digest}.pth"
    raw.rename(path)
    return path


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache of this test (TORCH_HOME)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home" / "hub" / "checkpoints"


def test_the_imagenet_urls_are_torchvisions_v1_weights():
    assert pretrained.IMAGENET_URLS == {
        50: "https://download.pytorch.org/models/resnet50-0676ba61.pth",
        101: "https://download.pytorch.org/models/resnet101-63fe2227.pth",
    }


def test_fetch_from_a_file_url_lands_in_the_hub_cache_once(tmp_path, hub):
    state = imagenet_like((1, 1, 1, 1), 16, 10).state_dict()
    source = _published(tmp_path, "tiny", state)
    got = pretrained.fetch(source.as_uri(), progress=False)
    assert got.parent.parent == hub and got.name == source.name and got.read_bytes() == source.read_bytes()
    source.unlink()  # the second call reads the cache, it does not fetch again
    assert pretrained.fetch(source.as_uri(), progress=False) == got


def test_a_file_that_does_not_match_its_hash_is_refused_and_not_kept(tmp_path, hub):
    state = imagenet_like((1, 1, 1, 1), 16, 10).state_dict()
    source = _published(tmp_path, "tiny", state, damage=True)
    with pytest.raises(RuntimeError, match="hash"):
        pretrained.fetch(source.as_uri(), progress=False)
    assert not [p for p in hub.rglob("*") if p.is_file()]


def test_a_damaged_cached_file_is_reported_not_loaded(tmp_path, hub):
    state = imagenet_like((1, 1, 1, 1), 16, 10).state_dict()
    source = _published(tmp_path, "tiny", state)
    cached = pretrained.fetch(source.as_uri(), progress=False)
    cached.write_bytes(cached.read_bytes()[:-100])  # truncated
    with pytest.raises(RuntimeError, match="delete it") as err:
        pretrained.fetch(source.as_uri(), progress=False)
    assert str(err.value).startswith(f"model.pretrained: the cached file {cached} does not match")


def test_two_urls_of_one_file_name_are_cached_apart(tmp_path, hub):
    """https://a/model.pth then https://b/model.pth: the second is downloaded, not taken from the first."""
    a, b = tmp_path / "a" / "model.pth", tmp_path / "b" / "model.pth"
    for path, seed in ((a, 0), (b, 1)):
        path.parent.mkdir()
        torch.save(imagenet_like((1, 1, 1, 1), 16, 10, seed=seed).state_dict(), path)
    got_a = pretrained.fetch(a.as_uri(), progress=False)
    got_b = pretrained.fetch(b.as_uri(), progress=False)
    assert got_a != got_b and got_a.name == got_b.name == "model.pth"
    assert got_a.read_bytes() == a.read_bytes() and got_b.read_bytes() == b.read_bytes()
    assert pretrained.fetch(a.as_uri(), progress=False) == got_a  # each URL keeps its own file


def test_a_cached_file_replaced_after_download_is_refused_on_every_use(tmp_path, hub):
    source = _published(tmp_path, "tiny", imagenet_like((1, 1, 1, 1), 16, 10).state_dict())
    cached = pretrained.fetch(source.as_uri(), progress=False)
    assert pretrained.fetch(source.as_uri(), progress=False) == cached  # the good file, checked again
    torch.save(imagenet_like((1, 1, 1, 1), 16, 10, seed=5).state_dict(), cached)  # another network, same size
    with pytest.raises(RuntimeError, match=f"model.pretrained: the cached file {cached} .*delete it"):
        pretrained.fetch(source.as_uri(), progress=False)


def test_imagenet_fetches_the_weights_of_the_depth_and_inflates_them(tmp_path, hub, monkeypatch):
    """model.pretrained=imagenet for a ResNet-50: the R50 file (here served from file://)
    goes through the cache into the network, which then equals the 2D net on a static clip."""
    from cost.models.factory import build_net

    net2d = imagenet_like((3, 4, 6, 3), 64, 1000)
    source = _published(tmp_path, "resnet50", net2d.state_dict())
    monkeypatch.setitem(pretrained.IMAGENET_URLS, 50, source.as_uri())
    net = build_net({"arch": "c2d", "depth": 50, "pretrained": "imagenet"}, num_classes=1000)
    assert (hub / source.name).is_file()  # torchvision's own place: a file torchvision fetched is reused
    frame = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(static_clip(frame, 2)), net2d(frame), rtol=1e-4, atol=1e-4)


def test_a_local_file_still_works_and_none_trains_from_scratch(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save(imagenet_like((1, 1, 1, 1), 16, 10).state_dict(), path)
    assert pretrained.resolve(str(path), "tiny") == str(path)
    assert pretrained.resolve("none", 50) is None and pretrained.resolve(None, 50) is None
    with pytest.raises(FileNotFoundError, match="model.pretrained=.*none to train from scratch"):
        pretrained.resolve(str(tmp_path / "missing.pth"), 50)
    with pytest.raises(ValueError, match="model.depth"):
        pretrained.resolve("imagenet", "tiny")


def test_two_local_files_of_one_name_are_each_read_where_they_are(tmp_path, hub):
    """model.pretrained=file:///a/model.pth then file:///b/model.pth: each run gets its own
    file's weights, and nothing is copied into the cache."""
    from cost.models.factory import build_net

    conv1 = {}
    for folder, seed in (("a", 0), ("b", 1)):
        path = tmp_path / folder / "model.pth"
        path.parent.mkdir()
        state = imagenet_like((1, 1, 1, 1), 16, 10, seed=seed).state_dict()
        torch.save(state, path)
        for value in (path.as_uri(), str(path)):
            assert pretrained.resolve(value, "tiny") == str(path)
        net = build_net({"arch": "c2d", "depth": "tiny", "pretrained": path.as_uri()}, num_classes=10, log=print)
        conv1[folder] = net.conv1.weight.detach().clone()
        torch.testing.assert_close(conv1[folder][:, :, 0], state["conv1.weight"])  # 1x7x7: the 2D kernel
    assert not torch.equal(conv1["a"], conv1["b"])
    assert not hub.exists() or not any(hub.rglob("*.pth"))


@pytest.mark.parametrize("as_url", [False, True])
def test_a_local_file_is_checked_against_the_hash_in_its_name(tmp_path, hub, as_url):
    state = imagenet_like((1, 1, 1, 1), 16, 10).state_dict()
    good = _published(tmp_path, "good", state)
    assert pretrained.resolve(good.as_uri() if as_url else str(good), "tiny") == str(good)
    bad = _published(tmp_path, "bad", state, damage=True)
    with pytest.raises(RuntimeError) as err:
        pretrained.resolve(bad.as_uri() if as_url else str(bad), "tiny")
    assert str(err.value).startswith(f"model.pretrained: the file {bad} does not match the SHA-256 prefix")
    assert "rename it" in str(err.value)


def test_from_scratch_at_paper_scale_must_be_asked_for():
    with pytest.raises(ValueError, match="model.pretrained=none"):
        pretrained.check_paper_scale(None, 50)
    pretrained.check_paper_scale("none", 101)  # deliberate
    pretrained.check_paper_scale("imagenet", 50)
    pretrained.check_paper_scale(None, "tiny")  # the CPU demo's net has no ImageNet weights
