"""An independently written 2D ResNet with torchvision's key names, the ImageNet network the
inflation tests load into the 3D models, and a static clip made of one frame."""

import torch
from torch import nn


class Bottleneck2d(nn.Module):
    def __init__(self, c_in, width, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, 4 * width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * width)
        self.downsample = None
        if stride != 1 or c_in != 4 * width:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, 4 * width, 1, stride, bias=False), nn.BatchNorm2d(4 * width)
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        return torch.relu(self.bn3(self.conv3(y)) + identity)


class ResNet2d(nn.Module):
    """A plain 2D ResNet (v1.5) laid out like torchvision's, for any units and width."""

    def __init__(self, units, width=64, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c_in = width
        for i, n in enumerate(units):
            w = width * 2**i
            blocks = [Bottleneck2d(c_in if u == 0 else 4 * w, w, 2 if (i > 0 and u == 0) else 1) for u in range(n)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            c_in = 4 * w
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x):
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean((2, 3)))


def imagenet_like(units, width, num_classes, seed=0):
    """A 2D net with random weights and BN statistics, in eval mode."""
    torch.manual_seed(seed)
    net = ResNet2d(units, width, num_classes)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


TINY = dict(units=(1, 1, 1, 1), width=16)


def static_clip(frame, t=4):
    return frame.unsqueeze(2).expand(-1, -1, t, -1, -1).contiguous()
