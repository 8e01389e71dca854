"""Layer 8, plumbing with no knowledge of models: atomic folders and files, hashing, paths kept inside
their root, the output lock, library-log capture, toolchain and machine records.

May import errors only (and the standard library).
"""
