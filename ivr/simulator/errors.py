"""Errors raised by the call simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ivr.simulator.result import CallResult


class SimulatorError(Exception):
    """The simulator cannot go on; ``result`` holds the call as far as it went."""

    def __init__(self, message: str, result: CallResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class TransportError(Exception):
    """A request could not be delivered (connection refused, timeout).

    ``connection_failed`` is true when no connection carried the request to an answer (refused,
    reset, aborted, connect timeout): Twilio tries those again; a read timeout it does not.
    """

    def __init__(self, message: str, *, connection_failed: bool = False) -> None:
        super().__init__(message)
        self.connection_failed = connection_failed


class TwimlError(ValueError):
    """A response is not valid TwiML (Twilio's error 12100)."""
