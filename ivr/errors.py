"""Typed errors.  ``retryable`` says whether trying the same thing again may work.

A caller hanging up is the normal end of a call: ``CallerHungUp`` is how a channel
says so, and the call runner treats it as an ending, not a fault.
"""

from __future__ import annotations


class IvrError(Exception):
    retryable: bool = False


class ConfigError(IvrError):
    """A setting is wrong; the message says which and how to fix it."""


class CallerHungUp(IvrError):
    """The caller is gone (AGI ``HANGUP`` line, ``511`` dead channel, or result -1)."""


class ChannelError(IvrError):
    """The AGI conversation broke: garbage, a closed socket, a 510/520 reply."""

    retryable = False


class StoreError(IvrError):
    """The database could not be used.  Usually transient."""

    retryable = True


class RecognizerError(IvrError):
    """Speech could not be decoded (model missing, unreadable audio)."""


class ImportRejected(IvrError):
    """A recipient list failed validation; nothing was applied."""

    def __init__(self, problems: list[tuple[int, str]]):
        self.problems = problems
        super().__init__(f"{len(problems)} bad row(s); nothing was applied")
