"""The chat app's engine process: the model runs in a process of its own.

``process`` is the app's side (a Backend that forwards every call), ``host``
the engine's side (``python -m assistant.backends.engine.host``), ``wire``
the messages between them.
"""
