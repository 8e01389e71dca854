"""Errors a user can fix.

Anything raised as an ``EdgeusError`` is printed by the CLI as one line (no traceback) and exits 1;
every other exception is a bug in edgeus and keeps its traceback.
"""


class EdgeusError(Exception):
    """A problem with the user's input or environment, with a message saying how to fix it."""

    exit_code = 1


class ProfileError(EdgeusError):
    """A device profile is missing, unknown or malformed."""


class SpecError(EdgeusError):
    """A model spec (inputs, outputs, tasks) is malformed or does not match the model."""


class ModelError(EdgeusError):
    """A model name, factory or checkpoint cannot be used."""


class CheckpointError(ModelError):
    """A checkpoint is missing, corrupt, unsafe or does not fit the model."""


class ExportError(EdgeusError):
    """The exported ONNX graph is invalid or disagrees with the source model."""


class DataError(EdgeusError):
    """Input data (images, masks, record lists) is missing or malformed."""


class BackendError(EdgeusError):
    """A backend runtime is not installed or cannot run the model."""


class OutputExistsError(EdgeusError):
    """The output exists and --force was not given."""
