"""The quantizers' recipe version, part of every quantize stage's cache key.

A stage folder is reused when its inputs hash the same; a change to what a quantizer does with the same inputs
(which ops it leaves in float, its NNCF or ONNX Runtime settings) must change the key too, or a cache filled by
an older edgeus would hand back the older model. Bump it with any such change.

2: OpenVINO INT8 leaves attention's activation products (and ScaledDotProductAttention) in float.
"""

QUANTIZE_RECIPE = 2
