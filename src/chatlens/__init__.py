"""Chatlens: webchat tracking and proactive engagement."""

__version__ = "0.1.0"
