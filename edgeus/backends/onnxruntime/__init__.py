"""ONNX Runtime: the runner and the static QDQ INT8 quantizer (the only places that configure it)."""
