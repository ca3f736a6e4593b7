"""The GPU checks behind ``python -m nyx.benchmarks.gpu_check``: models and data
(:mod:`.models`), encoder sections (:mod:`.encoders`), the LoRA recipe (:mod:`.training`) and
``nyx-index`` with a VLM (:mod:`.index`)."""
