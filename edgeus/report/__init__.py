"""Layer 4, reports: plots and the Markdown/HTML renderers of a bundle's evidence.

May import bundle, uusic25, runtime, backends, evidence, contracts, data, models, util, errors.
"""
