"""modalyze's messages: the ``modalyze`` logger of the standard library.

Library functions that report progress take a ``log`` callable that defaults to :func:`info`, so a
Python user sees the messages once logging is configured (``logging.basicConfig(level="INFO")``),
and importing modalyze changes no logger's level. The CLI shows them on the terminal
(:func:`to_console`).
"""

from __future__ import annotations

import logging
from typing import Any, Callable

logger = logging.getLogger("modalyze")
Log = Callable[[str], None]


def info(message: str) -> None:
    """One progress or summary line."""
    logger.info(message)


def duration(seconds: float) -> str:
    """Seconds as a progress line says them: '42 s', '3 min 05 s'."""
    seconds = max(0, int(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class _ConsoleHandler(logging.Handler):
    def __init__(self, console: Any):
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:  # plain text: no markup, no emoji codes like :question:
        self.console.print(record.getMessage(), markup=False, emoji=False, highlight=False)


def to_console(console: Any) -> None:
    """Show the ``modalyze`` logger's INFO lines on a rich console (the CLI's output), once."""
    if not any(isinstance(h, _ConsoleHandler) for h in logger.handlers):
        logger.addHandler(_ConsoleHandler(console))
    logger.setLevel(logging.INFO)
    logger.propagate = False
