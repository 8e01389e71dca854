"""Output-by-output agreement between a reference and a candidate run on the same feeds."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgeus.contracts.spec import ModelSpec


@dataclass(frozen=True)
class OutputParity:
    output: str
    batch: int
    max_abs_diff: float
    out_of_tolerance: float        # fraction of elements beyond atol + rtol*|ref|
    argmax_agreement: float | None  # segmentation outputs: fraction of pixels with the same class
    finite: bool
    ok: bool

    def describe(self) -> str:
        text = f"output {self.output!r} at batch {self.batch}: max |diff| {self.max_abs_diff:.3g}"
        if self.argmax_agreement is not None:
            text += f", argmax agreement {self.argmax_agreement:.4%}"
        if not self.finite:
            text += ", non-finite values"
        return text

    def to_dict(self) -> dict:
        return asdict(self)


def compare_outputs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], spec: ModelSpec,
                    batch: int) -> list[OutputParity]:
    tol = spec.tolerances
    results = []
    for out in spec.outputs:
        ref, cand = reference[out.name], candidate.get(out.name)
        if cand is None or cand.shape != ref.shape:
            results.append(OutputParity(out.name, batch, float("inf"), 1.0, None, True, False))
            continue
        finite = bool(np.all(np.isfinite(cand)))
        diff = np.abs(cand.astype(np.float64) - ref.astype(np.float64))
        max_diff = float(diff.max()) if diff.size else 0.0
        beyond = float(np.mean(diff > tol.atol + tol.rtol * np.abs(ref))) if diff.size else 0.0
        agreement = None
        ok = finite and beyond == 0.0
        if out.kind == "segmentation":
            agreement = float(np.mean(np.argmax(ref, axis=1) == np.argmax(cand, axis=1)))
            # Logit noise near a 50/50 pixel may flip its class without the export being wrong, so
            # segmentation outputs pass on argmax agreement when the logits are close in aggregate.
            ok = finite and agreement >= tol.seg_argmax_agreement and beyond < 1e-3
        results.append(OutputParity(out.name, batch, max_diff, beyond, agreement, finite, ok))
    return results
