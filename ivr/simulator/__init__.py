"""Offline Twilio call simulator: plays Twilio's side of a call against the app over HTTP or WSGI."""

from ivr.simulator.call import VERB_HANDLERS, Simulator
from ivr.simulator.caller import Caller, Hangup, Press, Silence, Speak, parse_script
from ivr.simulator.errors import SimulatorError
from ivr.simulator.media import RecordingServer, audio_seconds, tone_wav
from ivr.simulator.result import CallResult, Line, Request
from ivr.simulator.transport import HttpTransport, Reply, Transport, WsgiTransport

__all__ = [
    "VERB_HANDLERS",
    "CallResult",
    "Caller",
    "Hangup",
    "HttpTransport",
    "Line",
    "Press",
    "RecordingServer",
    "Reply",
    "Request",
    "Silence",
    "Simulator",
    "SimulatorError",
    "Speak",
    "Transport",
    "WsgiTransport",
    "audio_seconds",
    "parse_script",
    "tone_wav",
]
