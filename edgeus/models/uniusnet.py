"""UniUSNet-style universal ultrasound network (the UUSIC25 baseline architecture), written for edgeus.

Architecture and checkpoint layout follow ../shared/uusic25/uniusnet_interface.md: a Swin-UNet encoder,
a segmentation decoder and a classification decoder over the 7x7 bottleneck, with a 15-value one-hot
prompt projected by four linear layers and added to the bottleneck and to three decoder stages. The
parameter and buffer names reproduce the baseline's ``state_dict`` (``swin.`` prefix included), so a
baseline checkpoint loads with ``strict=True``.

Unlike the baseline, every reshape takes the batch from the tensor (``-1``), never from Python
arithmetic on shapes, so the ONNX export has a truly dynamic batch axis.

Forward: ``image`` float32 [B, 3, 224, 224] in [0, 1] (NCHW) and ``prompt`` float32 [B, 15]
(position 8, task 2, type 3, nature 2) -> ``(seg_logits [B,2,224,224], cls2_logits [B,2], cls4_logits [B,4])``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class UniUSNetConfig:
    img_size: int = 224
    patch_size: int = 4
    in_chans: int = 3
    embed_dim: int = 96
    depths: tuple[int, ...] = (4, 4, 4, 4)
    decoder_depths: tuple[int, ...] = (2, 2, 2, 2)  # cls decoder uses the first three, seg decoder the last three
    num_heads: tuple[int, ...] = (3, 6, 12, 24)
    window_size: int = 7
    mlp_ratio: float = 4.0
    prompt_dim: int = 15
    num_seg_classes: int = 2

    @property
    def patches(self) -> int:
        return self.img_size // self.patch_size


# --- Swin building blocks ---------------------------------------------------------------------------

def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, ws*ws, C), windows batch-major then row-major."""
    _, h, w, c = x.shape
    x = x.reshape(-1, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """(B * nW, ws*ws, C) -> (B, H, W, C). The batch is inferred (-1), which keeps export batch-dynamic."""
    c = windows.shape[-1]
    x = windows.reshape(-1, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def relative_position_index(ws: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)
    return rel[:, :, 0] * (2 * ws - 1) + rel[:, :, 1]


def shift_attention_mask(h: int, w: int, ws: int, shift: int) -> torch.Tensor:
    """(nW, ws*ws, ws*ws) with 0 inside a region and -100 across regions of the rolled frame."""
    labels = torch.zeros(1, h, w, 1)
    region = 0
    for rows in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
        for cols in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            labels[:, rows, cols, :] = region
            region += 1
    windows = window_partition(labels, ws).squeeze(-1)
    diff = windows[:, None, :] - windows[:, :, None]
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class WindowAttention(nn.Module):
    def __init__(self, dim: int, window_size: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02, a=-2.0, b=2.0)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        _, n, c = x.shape
        qkv = self.qkv(x).reshape(-1, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        attn = attn + bias.reshape(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            n_windows = mask.shape[0]
            attn = attn.reshape(-1, n_windows, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.reshape(-1, self.num_heads, n, n)
        out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(-1, n, c)
        return self.proj(out)


class SwinBlock(nn.Module):
    def __init__(self, dim: int, resolution: int, num_heads: int, window_size: int, shift: int,
                 mlp_ratio: float) -> None:
        super().__init__()
        if resolution <= window_size:  # one window covers the map: shifting would change nothing
            window_size, shift = resolution, 0
        self.resolution, self.window_size, self.shift = resolution, window_size, shift
        # Registered before the sub-modules so the state-dict order matches the baseline checkpoint.
        self.register_buffer(
            "attn_mask", shift_attention_mask(resolution, resolution, window_size, shift) if shift else None
        )
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, ws, c = self.resolution, self.window_size, x.shape[-1]
        h = self.norm1(x).reshape(-1, r, r, c)
        if self.shift:
            h = torch.roll(h, shifts=(-self.shift, -self.shift), dims=(1, 2))
        h = window_reverse(self.attn(window_partition(h, ws), self.attn_mask), ws, r, r)
        if self.shift:
            h = torch.roll(h, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + h.reshape(-1, r * r, c)
        return x + self.mlp(self.norm2(x))


def _blocks(dim: int, resolution: int, depth: int, heads: int, cfg: UniUSNetConfig) -> nn.ModuleList:
    return nn.ModuleList(
        SwinBlock(dim, resolution, heads, cfg.window_size, 0 if i % 2 == 0 else cfg.window_size // 2, cfg.mlp_ratio)
        for i in range(depth)
    )


class PatchMerging(nn.Module):
    """(B, R*R, C) -> (B, R/2*R/2, 2C): four strided sub-grids on channels, LayerNorm(4C), Linear 4C->2C."""

    def __init__(self, dim: int, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, c = self.resolution, x.shape[-1]
        x = x.reshape(-1, r, r, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.reshape(-1, (r // 2) ** 2, 4 * c)))


class PatchExpand(nn.Module):
    """(B, R*R, C) -> (B, (sR)^2, C_out): linear C -> s*s*C_out read as an s x s block, then LayerNorm."""

    def __init__(self, dim: int, resolution: int, scale: int, out_dim: int) -> None:
        super().__init__()
        self.resolution, self.scale, self.out_dim = resolution, scale, out_dim
        self.expand = nn.Linear(dim, scale * scale * out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, s, c = self.resolution, self.scale, self.out_dim
        x = self.expand(x).reshape(-1, r, r, s, s, c).permute(0, 1, 3, 2, 4, 5)
        return self.norm(x.reshape(-1, (r * s) ** 2, c))


class ChannelHalf(nn.Module):
    """Classification decoder down-projection: bias-free Linear C -> C/2, then LayerNorm(C/2)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim // 2, bias=False)
        self.norm = nn.LayerNorm(dim // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.linear(x))


class PatchEmbed(nn.Module):
    def __init__(self, cfg: UniUSNetConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cfg.in_chans, cfg.embed_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.norm = nn.LayerNorm(cfg.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class EncoderStage(nn.Module):
    def __init__(self, dim: int, resolution: int, depth: int, heads: int, cfg: UniUSNetConfig, merge: bool) -> None:
        super().__init__()
        self.blocks = _blocks(dim, resolution, depth, heads, cfg)
        self.res_scale = PatchMerging(dim, resolution) if merge else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.res_scale(x) if self.res_scale is not None else x


class SegDecoderStage(nn.Module):
    def __init__(self, dim: int, resolution: int, depth: int, heads: int, cfg: UniUSNetConfig, expand: bool) -> None:
        super().__init__()
        self.blocks = _blocks(dim, resolution, depth, heads, cfg)
        self.res_scale = PatchExpand(dim, resolution, 2, dim // 2) if expand else None

    forward = EncoderStage.forward


class ClsDecoderStage(nn.Module):
    def __init__(self, dim: int, resolution: int, depth: int, heads: int, cfg: UniUSNetConfig, halve: bool) -> None:
        super().__init__()
        self.blocks = _blocks(dim, resolution, depth, heads, cfg)
        self.res_scale = ChannelHalf(dim) if halve else None

    forward = EncoderStage.forward


# --- the network ------------------------------------------------------------------------------------

class _SwinUniversal(nn.Module):
    """Everything under the checkpoint's ``swin.`` prefix. Attribute order = state-dict order."""

    def __init__(self, cfg: UniUSNetConfig) -> None:
        super().__init__()
        c, p = cfg.embed_dim, cfg.patches
        n = len(cfg.depths)
        if n != 4 or len(cfg.decoder_depths) != 4 or len(cfg.num_heads) != 4:
            raise ValueError("UniUSNet has four encoder stages and four decoder depth entries")
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg)
        self.dec_prompt_mlp = nn.Linear(cfg.prompt_dim, 8 * c)
        self.dec_prompt_mlp_cls2 = nn.Linear(cfg.prompt_dim, 4 * c)
        self.dec_prompt_mlp_seg2_cls3 = nn.Linear(cfg.prompt_dim, 2 * c)
        self.dec_prompt_mlp_seg3 = nn.Linear(cfg.prompt_dim, c)
        self.layers = nn.ModuleList(
            EncoderStage(c * 2**i, p // 2**i, cfg.depths[i], cfg.num_heads[i], cfg, merge=i < n - 1)
            for i in range(n)
        )
        # Seg decoder: index 0 is the first patch expansion; 1..3 are stages at 1/16, 1/8, 1/4 resolution.
        seg_up: list[nn.Module] = [PatchExpand(8 * c, p // 8, 2, 4 * c)]
        for i in (1, 2, 3):
            dim, res = c * 2 ** (3 - i), p // 2 ** (3 - i)
            seg_up.append(SegDecoderStage(dim, res, cfg.decoder_depths[i], cfg.num_heads[3 - i], cfg, expand=i < 3))
        self.layers_task_seg_up = nn.ModuleList(seg_up)
        self.layers_task_seg_skip = nn.ModuleList(
            [nn.Identity()] + [nn.Linear(2 * c * 2 ** (3 - i), c * 2 ** (3 - i)) for i in (1, 2, 3)]
        )
        self.layers_task_seg_head = nn.ModuleList(
            [PatchExpand(c, p, cfg.patch_size, c), nn.Conv2d(c, cfg.num_seg_classes, 1, bias=False)]
        )
        self.layers_task_cls_up = nn.ModuleList(
            ClsDecoderStage(c * 2 ** (3 - i), p // 8, cfg.decoder_depths[i], cfg.num_heads[3 - i], cfg, halve=i < 2)
            for i in range(3)
        )
        self.layers_task_cls_head_2cls = nn.Sequential(nn.Linear(2 * c, 2))
        self.layers_task_cls_head_4cls = nn.Sequential(nn.Linear(2 * c, 4))
        self.norm = nn.LayerNorm(8 * c)
        self.norm_task_seg = nn.LayerNorm(c)
        self.norm_task_cls = nn.LayerNorm(2 * c)
        self.apply(_init_weights)

    def forward(self, image: torch.Tensor, prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.patch_embed(image)
        skips = []
        for stage in self.layers:
            skips.append(x)
            x = stage(x)
        x = self.norm(x) + self.dec_prompt_mlp(prompt).unsqueeze(1)
        seg = self._decode_seg(x, skips, prompt)
        cls2, cls4 = self._decode_cls(x, prompt)
        return seg, cls2, cls4

    def _decode_seg(self, x: torch.Tensor, skips: list[torch.Tensor], prompt: torch.Tensor) -> torch.Tensor:
        prompt_adds = {2: self.dec_prompt_mlp_seg2_cls3, 3: self.dec_prompt_mlp_seg3}
        x = self.layers_task_seg_up[0](x)
        for i in (1, 2, 3):
            x = self.layers_task_seg_skip[i](torch.cat([x, skips[3 - i]], dim=-1))
            if i in prompt_adds:
                x = x + prompt_adds[i](prompt).unsqueeze(1)
            x = self.layers_task_seg_up[i](x)
        x = self.layers_task_seg_head[0](self.norm_task_seg(x))
        size = self.cfg.img_size
        x = x.reshape(-1, size, size, x.shape[-1]).permute(0, 3, 1, 2)
        return self.layers_task_seg_head[1](x)

    def _decode_cls(self, x: torch.Tensor, prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.layers_task_cls_up[0](x)
        x = self.layers_task_cls_up[1](x + self.dec_prompt_mlp_cls2(prompt).unsqueeze(1))
        x = self.layers_task_cls_up[2](x + self.dec_prompt_mlp_seg2_cls3(prompt).unsqueeze(1))
        pooled = self.norm_task_cls(x).mean(dim=1)
        return self.layers_task_cls_head_2cls(pooled), self.layers_task_cls_head_4cls(pooled)


def _init_weights(m: nn.Module) -> None:
    # Matches the baseline's initialisation (irrelevant once a checkpoint is loaded, but it makes an
    # untrained model behave like one).
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02, a=-2.0, b=2.0)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class UniUSNet(nn.Module):
    def __init__(self, cfg: UniUSNetConfig = UniUSNetConfig()) -> None:
        super().__init__()
        self.config = cfg
        self.swin = _SwinUniversal(cfg)

    def forward(self, image: torch.Tensor, prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.swin(image, prompt)


FULL = UniUSNetConfig()
# Same code, a quarter of the width and half the depth: ~1/20 of the compute, for tests and the default.
SMALL = UniUSNetConfig(embed_dim=24, depths=(2, 2, 2, 2), decoder_depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8))


def uniusnet() -> UniUSNet:
    return UniUSNet(FULL)


def uniusnet_small() -> UniUSNet:
    return UniUSNet(SMALL)
