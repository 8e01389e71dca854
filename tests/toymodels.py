"""Small prompt-conditioned models the tests build themselves (multi-input, multi-output).

They answer the UUSIC25 catalog's outputs at 32 x 32 so export, parity and error paths are tested in
seconds. ``FrozenBatchNet*`` turn the batch size into a Python number during tracing, the classic
silent export bug that parity at a second batch size must catch.
"""

from __future__ import annotations

import torch
from torch import nn

SPEC_TOML = """
name = "toy-prompted"
catalog = "uusic25"

[[inputs]]
name = "image"
shape = ["batch", 3, 32, 32]
role = "image"

[[inputs]]
name = "prompt"
shape = ["batch", 15]
role = "prompt"

[[outputs]]
name = "seg_logits"
shape = ["batch", 2, 32, 32]
kind = "segmentation"

[[outputs]]
name = "cls2_logits"
shape = ["batch", 2]
kind = "classification"

[[outputs]]
name = "cls4_logits"
shape = ["batch", 4]
kind = "classification"
"""


class PromptedNet(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.prompt_proj = nn.Linear(15, width)
        self.body = nn.Conv2d(width, width, 3, padding=1)
        self.seg_head = nn.Conv2d(width, 2, 1)
        self.cls2 = nn.Linear(width, 2)
        self.cls4 = nn.Linear(width, 4)

    def features(self, image: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(image))
        x = x + self.prompt_proj(prompt)[:, :, None, None]
        return torch.relu(self.body(x))

    def forward(self, image: torch.Tensor, prompt: torch.Tensor):
        x = self.features(image, prompt)
        pooled = x.mean(dim=(2, 3))
        return self.seg_head(x), self.cls2(pooled), self.cls4(pooled)


class FrozenBatchScaleNet(PromptedNet):
    """Silently wrong at other batch sizes: the batch becomes a constant factor in the traced graph."""

    def forward(self, image, prompt):
        seg, cls2, cls4 = super().forward(image, prompt)
        n = int(image.shape[0])  # frozen during tracing
        return seg, cls2 * (n / 2.0), cls4


class FrozenBatchReshapeNet(PromptedNet):
    """Crashes at other batch sizes: a reshape takes the traced batch as a constant."""

    def forward(self, image, prompt):
        x = self.features(image, prompt)
        n = int(image.shape[0])
        pooled = x.reshape(n, x.shape[1], -1).mean(dim=2)
        return self.seg_head(x), self.cls2(pooled), self.cls4(pooled)


def prompted_net() -> PromptedNet:
    return PromptedNet()


def frozen_batch_scale_net() -> FrozenBatchScaleNet:
    return FrozenBatchScaleNet()


def frozen_batch_reshape_net() -> FrozenBatchReshapeNet:
    return FrozenBatchReshapeNet()


def not_a_module():
    return "hello"


class FragileLuminalNet(nn.Module):
    """The embedded uniusnet-small whose 4-class head (Breast_luminal only) passes through a 3x3 convolution
    fed its logits *beside a channel of about 100000*: in fp32 the convolution is the identity on the logits,
    in INT8 one activation scale must cover 1e5, its step (~400) swallows logits of a few units, and that one
    task breaks while every other keeps its accuracy. No scope hints: its spec has no int8_float_patterns."""

    def __init__(self) -> None:
        super().__init__()
        from edgeus.models import load_model

        self.base = load_model("uniusnet-small").module
        # 3x3, not 1x1: OpenVINO 2026.4's CPU plugin fails to compile an INT8 1x1 convolution on a 1x1 input
        # (ConvertWeightCompressedConv1x1ToMatmul), which would make the INT8 plans errors, not inaccurate
        self.amplifier = nn.Conv2d(5, 4, 3, padding=1, bias=False)
        with torch.no_grad():
            self.amplifier.weight.zero_()
            self.amplifier.weight[:, :4, 1, 1] = torch.eye(4)

    def forward(self, image: torch.Tensor, prompt: torch.Tensor):
        seg, cls2, cls4 = self.base(image, prompt)
        # image-dependent, so the quantizer cannot treat it as a constant (NNCF leaves constant branches alone)
        big = 1.0e5 * (2.0 + torch.tanh(image.mean(dim=(1, 2, 3))))[:, None]
        x = torch.cat([cls4, big], dim=1)[:, :, None, None]
        return seg, cls2, self.amplifier(x)[:, :, 0, 0]


def fragile_luminal_net() -> FragileLuminalNet:
    return FragileLuminalNet().eval()
