"""Offline Twilio call simulator: plays Twilio's side of a call against the app over HTTP or WSGI."""

from ivr.simulator.addressing import SharedKey
from ivr.simulator.agents import DEFAULT_CALLEE, Agent
from ivr.simulator.call import VERB_HANDLERS
from ivr.simulator.caller import (
    Caller,
    Hangup,
    Hold,
    Press,
    Silence,
    Speak,
    Utterance,
    Wait,
    parse_script,
)
from ivr.simulator.conferences import Conference, Heard, Participant
from ivr.simulator.errors import SimulatorError
from ivr.simulator.media import RecordingServer, audio_seconds, tone_wav
from ivr.simulator.outbound import OutboundCall
from ivr.simulator.rest import ApiRequest, TwilioApi
from ivr.simulator.result import CallResult, Line, Request
from ivr.simulator.simulator import CallHandle, Simulator
from ivr.simulator.transport import HttpTransport, Reply, Transport, WsgiTransport

__all__ = [
    "DEFAULT_CALLEE",
    "VERB_HANDLERS",
    "Agent",
    "ApiRequest",
    "CallHandle",
    "CallResult",
    "Caller",
    "Conference",
    "Hangup",
    "Heard",
    "Hold",
    "HttpTransport",
    "Line",
    "OutboundCall",
    "Participant",
    "Press",
    "RecordingServer",
    "Reply",
    "Request",
    "SharedKey",
    "Silence",
    "Simulator",
    "SimulatorError",
    "Speak",
    "Transport",
    "TwilioApi",
    "Utterance",
    "Wait",
    "WsgiTransport",
    "audio_seconds",
    "parse_script",
    "tone_wav",
]
