"""The transformers backend: models run natively in PyTorch (CUDA, Apple MPS or the CPU).

``backend`` is the protocol implementation; ``convert`` turns catalog GGUFs into
safetensors, ``vocab`` maps token bytes, ``native_decoder``/``hf_decoder`` run
the forward passes with a KV cache, ``native_batch``/``batch_scheduler`` decode
many rows at once, ``sampling`` is llama.cpp's sampler chain in torch. Nothing
here imports torch at package import time.
"""
