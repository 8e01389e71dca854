"""Fault injection for tests/runtime/test_never_freezes.py: put this folder on PYTHONPATH and set
EDGEUS_TEST_HANG_AFTER=N; in the process that does a runtime command's work, the N+1-th inference then calls
libc's sleep through ctypes.PyDLL, which keeps the GIL: a native call that never returns and leaves no other
thread of the process able to run Python, the worst kind of hang (Ctrl-C's Python handler cannot run). A
marker file (EDGEUS_TEST_HANG_MARKER) says when it has started."""

import os

if os.environ.get("EDGEUS_TEST_HANG_AFTER") and os.environ.get("EDGEUS_SUPERVISED_CHILD"):
    import ctypes
    import itertools
    from pathlib import Path

    from edgeus.runtime import predictor

    _calls = itertools.count()
    _infer = predictor.Predictor.infer

    def _hanging_infer(self, *args, **kwargs):
        if next(_calls) >= int(os.environ["EDGEUS_TEST_HANG_AFTER"]):
            Path(os.environ["EDGEUS_TEST_HANG_MARKER"]).write_text(str(os.getpid()))
            ctypes.PyDLL(None).sleep(3600)  # PyDLL: the GIL stays held for the whole call
        return _infer(self, *args, **kwargs)

    predictor.Predictor.infer = _hanging_infer
