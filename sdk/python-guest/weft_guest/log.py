"""Structured logging into the host's log, tagged with the component and
the call."""

from __future__ import annotations

from ._common import binding



def _log(level: str, message: str) -> None:
    binding("log").log(getattr(binding("log").Level, level), str(message))


def trace(message: str) -> None:
    _log("TRACE", message)


def debug(message: str) -> None:
    _log("DEBUG", message)


def info(message: str) -> None:
    _log("INFO", message)


def warn(message: str) -> None:
    _log("WARN", message)


def error(message: str) -> None:
    _log("ERROR", message)
