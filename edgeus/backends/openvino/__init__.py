"""OpenVINO: the runner and the NNCF INT8 quantizer (the only places that configure them)."""
