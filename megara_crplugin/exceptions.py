"""Exceptions and warnings of megara_crplugin."""

from __future__ import annotations

__all__ = ["CRPluginWarning", "InputError", "UserStop"]


class InputError(ValueError):
    """Bad input frames or mask files; the message names the file and what is expected."""


class UserStop(Exception):  # noqa: N818 - it is a request, not an error
    """The operator asked to stop (key ``x`` or ``s`` in the interactive review).

    Library code raises it; the command-line shell turns it into a clean exit
    with status 0 and nothing partial left on disk.
    """


class CRPluginWarning(UserWarning):
    """A condition the operator should know about (e.g. no display available)."""
