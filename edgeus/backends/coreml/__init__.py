"""Core ML: the runtime of iPhone and iPad apps (CPU, GPU and the Neural Engine), for an ``.mlpackage``
converted here from the torch model with coremltools (any OS). Core ML itself (compiling the package, predicting,
timing, activation calibration for W8A8) runs only on macOS / iOS: a Core ML bundle built elsewhere is marked
pending on a Mac, with the recipe ``edgeus finalize`` runs there, and carries the plan's torch-side simulation
as its portable evidence (``convert.simulate_plan``). coremltools is imported lazily (the ``coreml`` extra).
"""
