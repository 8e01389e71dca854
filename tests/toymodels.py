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


class SortNet(PromptedNet):
    """ONNX exports its torch.sort (TopK); ExecuTorch lowers it, but its runtime has no kernel for aten::sort."""

    def forward(self, image, prompt):
        seg, cls2, cls4 = super().forward(image, prompt)
        return seg + torch.sort(image[:, :1], -1).values.mean(), cls2, cls4


def sort_net() -> SortNet:
    return SortNet()


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


class GainFragileNet(nn.Module):
    """Gain-invariant in fp32, fragile in INT8 once calibrated on bright images. Every class logit is a depth
    contrast, ``w`` x (mean of the image's top half - mean of its bottom half): a darker image scales all of a
    task's logits alike, so fp32's ranking (AUC) holds under any gain. Liver's logits pass through a 3x3
    convolution (the identity on them) beside a channel ``k`` x relu(mean(image) - ``t``) that only images
    brighter than ``t`` excite: INT8 has one activation scale for that input. Calibrated on ordinary images
    the channel is 0 and the scale fits the logits; calibrated on bright ones (the phantom's native
    ``gain_up``), its step (~8) lies between Liver's class gap on a clean image (~14) and on a darkened one
    (~3.5): clean Liver keeps its ranking, dark Liver ties. The other tasks' logits (zero for Liver, by the
    prompt) are added after the convolution; the segmentation head reads the image alone."""

    LIVER = 6  # the Liver organ's place in the UUSIC25 prompt (contracts/tasks)

    def __init__(self, w_liver: float = 100.0, w_other: float = 20.0, k: float = 49000.0, t: float = 0.4) -> None:
        super().__init__()
        self.w_liver, self.w_other, self.k, self.t = w_liver, w_other, k, t
        self.seg = nn.Conv2d(3, 2, 3, padding=1)
        self.amplifier = nn.Conv2d(7, 6, 3, padding=1, bias=False)  # 3x3: see FragileLuminalNet
        with torch.no_grad():
            self.seg.weight.zero_()
            self.seg.weight[1, :, 1, 1] = 10.0 / 3.0  # foreground where the grey is above 0.3
            self.seg.bias.copy_(torch.tensor([0.0, -3.0]))
            self.amplifier.weight.zero_()
            self.amplifier.weight[:, :6, 1, 1] = torch.eye(6)

    def forward(self, image: torch.Tensor, prompt: torch.Tensor):
        half = image.shape[2] // 2
        contrast = image[:, :, :half].mean(dim=(1, 2, 3)) - image[:, :, half:].mean(dim=(1, 2, 3))
        liver = prompt[:, self.LIVER]
        signs = torch.tensor([-1.0, 1.0, -1.0, 1.0, -1.0, -1.0])
        liver_logits = (self.w_liver * liver * contrast)[:, None] * signs
        other_logits = (self.w_other * (1.0 - liver) * contrast)[:, None] * signs
        bright = self.k * torch.relu(image.mean(dim=(1, 2, 3)) - self.t)[:, None]
        amplified = self.amplifier(torch.cat([liver_logits, bright], dim=1)[:, :, None, None])[:, :, 0, 0]
        out = amplified + other_logits
        return self.seg(image), out[:, :2], out[:, 2:]


def gain_fragile_net() -> GainFragileNet:
    return GainFragileNet().eval()
