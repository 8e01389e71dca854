"""Deployment rewrite ``swin-window-order``: the Swin blocks' window glue moved out of the graph.

A Swin block rolls its (B, R, R, C) map by the shift, cuts it into windows (reshape, 6-D transpose, reshape),
runs attention per window and undoes both. In ONNX that is, per shifted block, four Slices and two Concats for
each roll and a 6-D Transpose each way, plus the relative-position bias and the shift mask added as two
separate tensors. Neither OpenVINO nor ONNX Runtime fuses any of it (OpenVINO runs the 6-D Transposes with its
reference kernel; ONNX Runtime's transformer fusions look for BERT/ViT attention, not windows).

Every op of a block except attention is per token (LayerNorm, the Linear layers, GELU, the residual adds), so
the block is indifferent to the order of its tokens, and rolling then windowing is a fixed permutation of the
R*R tokens. The rewrite keeps the tokens *in window order inside a stage*: one Gather (a constant index) on the
way into the first block, one between consecutive blocks (the next block's order composed with the inverse of
this one's: shifted and unshifted windows differ), one back to raster order after the last; windows are then
a free reshape. The bias and the mask become one constant added once, and attention's 1/sqrt(d) is folded into
the q rows of the qkv weights. Names of every parameterised layer stay as they were, so float-scope patterns
over node names (``int8_float_patterns``) keep matching.

The rewrite recognises edgeus's own Swin blocks (``edgeus.models.uniusnet.SwinBlock``, exact type: a subclass
may compute something else) held in a list of same-resolution blocks, and refuses a model with none. It returns
a rewritten copy; the original is untouched, and the export's parity check compares the two.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from edgeus.errors import ModelError
from edgeus.models.uniusnet import SwinBlock, WindowAttention, window_partition

NAME = "swin-window-order"


def window_order(resolution: int, window: int, shift: int) -> torch.Tensor:
    """Raster token index of each position in the block's window order: roll by -shift, then windows
    row-major, tokens row-major inside each (what ``roll`` + ``window_partition`` do to a (R, R) map)."""
    raster = torch.arange(resolution * resolution).reshape(1, resolution, resolution, 1)
    if shift:
        raster = torch.roll(raster, shifts=(-shift, -shift), dims=(1, 2))
    return window_partition(raster, window).reshape(-1)


def _inverse(order: torch.Tensor) -> torch.Tensor:
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel())
    return inverse


def _is_identity(order: torch.Tensor) -> bool:
    return bool(torch.equal(order, torch.arange(order.numel())))


class WindowOrderedAttention(nn.Module):
    """Window attention with q pre-scaled in the weights and bias (+ shift mask) as one constant."""

    def __init__(self, attn: WindowAttention, mask: torch.Tensor | None) -> None:
        super().__init__()
        self.num_heads = attn.num_heads
        self.qkv = copy.deepcopy(attn.qkv)
        self.proj = copy.deepcopy(attn.proj)
        dim = self.proj.in_features
        with torch.no_grad():  # fold 1/sqrt(d) into q: one Mul per block fewer
            self.qkv.weight[:dim] *= attn.scale
            if self.qkv.bias is not None:
                self.qkv.bias[:dim] *= attn.scale
        n = attn.relative_position_index.shape[0]
        with torch.no_grad():
            bias = attn.relative_position_bias_table[attn.relative_position_index.reshape(-1)]
            # (1, heads, n, n), or with the shift mask (windows, heads, n, n)
            bias = bias.reshape(n, n, -1).permute(2, 0, 1).unsqueeze(0)
            if mask is not None:
                bias = bias + mask.unsqueeze(1)
        # a fresh tensor in row-major strides: .contiguous() keeps the permute's strides on its 1-sized axes,
        # which ExecuTorch's XNNPACK delegate read as another layout (its shapes then failed to propagate)
        self.register_buffer("attention_bias", bias.detach().flatten().clone().reshape(bias.shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, n, c = x.shape
        heads = self.num_heads
        q, k, v = self.qkv(x).split(c, dim=-1)
        q = q.reshape(-1, n, heads, c // heads).transpose(1, 2)
        k = k.reshape(-1, n, heads, c // heads).transpose(1, 2)
        v = v.reshape(-1, n, heads, c // heads).transpose(1, 2)
        # q @ k^T -> (+ bias) -> softmax -> @ v: OpenVINO's SDPA fusion makes each unshifted block's attention
        # one ScaledDotProductAttention (14 in uniusnet-small); the shifted blocks' per-window add keeps theirs apart
        attn = q @ k.transpose(-2, -1)
        if self.attention_bias.shape[0] > 1:
            # per window: (B, windows, heads, n, n) + (windows, heads, n, n), as the model as written adds its mask
            # (seen as (B, windows*heads*n, n) instead, OpenVINO 2026.4's SDPA fusion took the flattened bias for
            # an attention mask and convert_model failed)
            windows = self.attention_bias.shape[0]
            attn = (attn.reshape(-1, windows, self.num_heads, n, n) + self.attention_bias).reshape(-1, self.num_heads, n, n)
        else:
            attn = attn + self.attention_bias
        out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(-1, n, c)
        return self.proj(out)


class WindowOrderedBlock(nn.Module):
    """A Swin block that takes its tokens in the order ``entry`` makes of its input (None: as they come) and
    hands them on in the order ``exit`` makes of its window order (None: window order)."""

    def __init__(self, block: SwinBlock, entry: torch.Tensor | None, exit: torch.Tensor | None) -> None:
        super().__init__()
        self.resolution, self.window_size = block.resolution, block.window_size
        self.norm1 = copy.deepcopy(block.norm1)
        self.attn = WindowOrderedAttention(block.attn, block.attn_mask)
        self.norm2 = copy.deepcopy(block.norm2)
        self.mlp = copy.deepcopy(block.mlp)
        self.register_buffer("entry", entry)
        self.register_buffer("exit", exit)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.entry is not None:
            x = x.index_select(1, self.entry)
        c, r, ws = x.shape[-1], self.resolution, self.window_size
        h = self.attn(self.norm1(x).reshape(-1, ws * ws, c))   # window order: windows are a reshape
        x = x + h.reshape(-1, r * r, c)
        x = x + self.mlp(self.norm2(x))
        if self.exit is not None:
            x = x.index_select(1, self.exit)
        return x


def _rewrite_blocks(blocks: list[SwinBlock]) -> list[WindowOrderedBlock]:
    orders = [window_order(b.resolution, b.window_size, b.shift) for b in blocks]
    rewritten, previous = [], None   # previous: the order the tokens are in (None: raster)
    for i, (block, order) in enumerate(zip(blocks, orders)):
        # tokens in `previous` order; the block wants `order`: gather position j from where raster token
        # order[j] sits now.
        entry = order if previous is None else _inverse(previous)[order]
        exit_ = _inverse(order) if i == len(blocks) - 1 else None
        rewritten.append(WindowOrderedBlock(
            block, None if _is_identity(entry) else entry, None if exit_ is None or _is_identity(exit_) else exit_))
        previous = order
    return rewritten


def rewrite_swin_window_order(module: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``module`` with every list of same-resolution Swin blocks kept in window order; returns the
    copy and the number of blocks rewritten. ModelError (one line) when there is nothing it recognises.

    Example::

        from edgeus.models.uniusnet import uniusnet_small
        from edgeus.models.swin_rewrite import rewrite_swin_window_order
        deployed, blocks = rewrite_swin_window_order(uniusnet_small().eval())
    """
    rewritten = copy.deepcopy(module).eval()
    count = 0
    unrecognised = []
    lists = [(n, m) for n, m in rewritten.named_modules() if isinstance(m, nn.ModuleList) and len(m)]
    for name, child in lists:
        kinds = {type(m) for m in child}
        if not any(issubclass(k, SwinBlock) for k in kinds):
            continue
        if kinds != {SwinBlock} or len({m.resolution for m in child}) != 1:
            unrecognised.append(name)
            continue
        new_blocks = _rewrite_blocks(list(child))
        for i, block in enumerate(new_blocks):
            child[i] = block
        count += len(new_blocks)
    stray = [n for n, m in rewritten.named_modules() if isinstance(m, SwinBlock)]
    if unrecognised or stray or not count:
        where = unrecognised or stray
        detail = (f"Swin blocks it cannot reorder safely at {where[0]}" + (f" (and {len(where) - 1} more)" if len(where) > 1 else "")
                  if where else "no Swin window-attention block (edgeus.models.uniusnet.SwinBlock) in it")
        raise ModelError(f"the {NAME} rewrite does not recognise this model's structure: {detail}")
    return rewritten, count


REWRITES = {NAME: rewrite_swin_window_order}
