"""Twilio access in one place: webhook signatures, field parsing, URLs, TwiML, REST calls."""
