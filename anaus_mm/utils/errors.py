"""The package's exception base.

Library code (datasets, engine, benchmark, APIs) raises ordinary exceptions
that also derive from :class:`AnausError` when their message is complete in
one line (a bad file, a wrong config value). The command-line layer
(:func:`anaus_mm.utils.cli.run_cli`) prints those as ``tool: error: ...``
with exit code 2 instead of a traceback; Python users catch them as the
ordinary type (``ValueError``, ``RuntimeError``, ...) or as a group.
"""

__all__ = ['AnausError', 'ConfigValueError', 'MissingExtraError']


class AnausError(Exception):
    """An error whose message tells the user everything, in one line."""


class ConfigValueError(AnausError, ValueError):
    """A config or argument value that cannot be used."""


class MissingExtraError(AnausError, ImportError):
    """An optional dependency, installed by a ``pip install -e .[extra]``,
    is missing (one-line message naming the extra)."""
