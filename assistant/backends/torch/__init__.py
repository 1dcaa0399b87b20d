"""The transformers backend: models run natively in PyTorch (CUDA, Apple MPS or the CPU).

``backend`` is the protocol implementation; ``loading`` reads a model directory
and picks its decoder and token rules; ``convert`` turns catalog GGUFs into
safetensors, ``vocab`` maps token bytes, ``native_decoder``/``hf_decoder`` run
the forward passes with a KV cache, ``prompt_cache`` tracks which tokens that
cache holds, ``native_batch``/``batch_scheduler`` decode many rows at once,
``sampling`` is llama.cpp's sampler chain in torch, ``attention_window`` the
attention maps. Nothing here imports torch at package import time.
"""
