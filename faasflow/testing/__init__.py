"""Helpers for testing faasflow apps against a local AWS emulator."""

from faasflow.testing.ministack import MiniStack, MiniStackError

__all__ = ["MiniStack", "MiniStackError"]
