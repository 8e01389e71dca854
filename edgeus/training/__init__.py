"""Layer 1, training scripts of the embedded default (``python -m edgeus.training.train_phantom``,
``train_cls_head``, ``report_default``): research tools beside the product, not part of a build.

May import every package below the CLI; nothing in edgeus imports them.
"""
