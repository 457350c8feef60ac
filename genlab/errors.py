"""Errors a person can act on: what went wrong, where, and what to do."""

from __future__ import annotations


class GenlabError(Exception):
    """Base error. ``where`` names the file/line/field; ``hint`` says what to do."""

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigError(GenlabError):
    """A configuration value is invalid (names the field)."""


class ModelNotFoundError(GenlabError):
    """A model name resolved to nothing."""


class DataError(GenlabError):
    """A data file or row is malformed (names file:line)."""
