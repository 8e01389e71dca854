"""Deployment rewrites by name: each takes a torch module and returns a rewritten copy that computes the same
outputs in a form the runtimes execute faster, or refuses (ModelError, one line) a structure it does not know.

Layer 7: may import contracts, data, util, errors (torch lazily: the rewrites import it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgeus.errors import ModelError

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class AppliedRewrite:
    name: str
    blocks: int  # how many of the model's blocks it changed

    def to_dict(self) -> dict:
        return {"name": self.name, "blocks": self.blocks}


def known_rewrites() -> list[str]:
    from edgeus.models.swin_rewrite import REWRITES

    return sorted(REWRITES)


def apply_rewrites(module: nn.Module, names: list[str]) -> tuple[nn.Module, list[AppliedRewrite]]:
    """``module`` with each named rewrite applied in order (a copy; ``module`` itself is left as it was).

    Example::

        from edgeus.models import load_model
        from edgeus.models.rewrites import apply_rewrites
        loaded = load_model("uniusnet-small")
        deployed, applied = apply_rewrites(loaded.module, loaded.spec.deploy_rewrites)
    """
    from edgeus.models.swin_rewrite import REWRITES

    applied = []
    for name in names:
        if name not in REWRITES:
            raise ModelError(f"unknown deployment rewrite {name!r}; known: {', '.join(sorted(REWRITES))}")
        module, blocks = REWRITES[name](module)
        applied.append(AppliedRewrite(name, blocks))
    return module, applied
