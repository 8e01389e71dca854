"""Layer 4, bundles: the manifest (and its JSON Schema), assembly of a bundle folder, conformance vectors,
verify, reproducible pack / safe unpack, signatures, the SBOM, and ``compare`` across bundles.

May import report, uusic25, runtime, backends, evidence, contracts, data, models, util, errors.
"""
