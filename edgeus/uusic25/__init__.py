"""Layer 4, the UUSIC25 challenge's contract: what its container writes (``contract.predict``), its
official scoring (``contract.score``) and the published leaderboard.

May import runtime, backends, evidence, contracts, data, models, util, errors.
"""
