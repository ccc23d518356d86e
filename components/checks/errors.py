"""Errors every step raises for input that cannot be used: one type for data, one for parameters."""


class DataError(ValueError):
    """Input data that cannot be used, with a message naming the file, column or parameter."""


class ParameterError(ValueError):
    """A cleaning parameter with a value that cannot work, named in the message."""
