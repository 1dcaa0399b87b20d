"""Structured output: JSON Schema checking, validation and constrained decoding.

``schema`` defines the supported JSON Schema subset once (checked when a schema
is given, validated after generation); backends constrain their decoders to it.
"""
