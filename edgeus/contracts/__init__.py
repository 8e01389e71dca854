"""Layer 7, the contracts everything else reads: device ``profiles``, the model ``spec``, the task catalog
(``tasks``) and the one ``preprocess`` implementation (shared with the vendor runtime).

May import util, errors and each other.
"""
