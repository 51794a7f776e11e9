"""The one exception type users see: a one-line message naming the file, row, column or option."""


class ModalyzeError(Exception):
    """Bad input or a bad request. The CLI prints ``error: <message>`` and exits with status 2."""
