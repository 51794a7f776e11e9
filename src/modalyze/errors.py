"""The exceptions users see: a one-line message naming the file, row, column or option, or an interruption."""

from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class ModalyzeError(ValueError):
    """Bad input or a bad request. The CLI prints ``error: <message>`` and exits with status 2. A
    ValueError, as scikit-learn expects of an estimator given bad parameters or data.

    Raised in a DataLoader worker (a file that cannot be decoded), it reaches the caller rebuilt
    from the worker's traceback; the message is the original one line again."""

    def __init__(self, message: object = "", *args: object):
        text = str(message)
        if "Original Traceback" in text and _WORKER_MARK in text:  # torch's ExceptionWrapper.reraise
            text = text.rsplit(_WORKER_MARK, 1)[1].strip().splitlines()[0]
        super().__init__(text, *args)


_WORKER_MARK = "ModalyzeError: "


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived. A BaseException, so no ``except Exception`` (ours, Lightning's or a
    library's) can swallow it; the CLI exits with 128 + the signal number and the resume message."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def raise_on_signals() -> None:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` in the main thread, wherever it is.

    Lightning keeps a handler installed before ``fit`` and calls it after its own SIGTERM notice,
    so training stops at once instead of running to the next epoch boundary (or to SIGKILL).
    """
    def handler(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)


@contextmanager
def naming(where: str | Path | None) -> Iterator[None]:
    """A :class:`ModalyzeError` raised inside names ``where`` (a file, a run) first, if it does not already."""
    try:
        yield
    except ModalyzeError as exc:
        if where is None or str(where) in str(exc):
            raise
        raise ModalyzeError(f"{where}: {exc}") from None


@contextmanager
def reading(path: str | Path, what: str) -> Iterator[None]:
    """Turn any library exception raised while reading an untrusted file into one line naming it."""
    try:
        with naming(path):
            yield
    except ModalyzeError:
        raise
    except Exception as exc:  # noqa: BLE001 - every library error type means "not a valid <what>"
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModalyzeError(f"{path}: not a valid {what}: {reason[:200]}") from None
