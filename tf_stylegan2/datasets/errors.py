"""The one error type of the dataset readers and writers."""


class DatasetError(ValueError):
    """A dataset cannot be read or written: the message is one line that names the file at fault."""
