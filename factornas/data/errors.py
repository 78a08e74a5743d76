"""The one error type of the data layer.

Data problems are the user's to fix (a missing folder, a truncated download, a corrupt
file), so they get their own type with a one-line message that names the file and says what
to do. It derives from :class:`~factornas.errors.FactorNASError` so the CLI reports it like
every other user error, and from :class:`RuntimeError` because it is raised at run time by
the environment rather than by a bad argument.
"""

from __future__ import annotations

from factornas.errors import FactorNASError


class DataError(FactorNASError, RuntimeError):
    """Missing, corrupt or unreadable data; the message says which file and what to do."""
