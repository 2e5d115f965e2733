"""Voice messages: recording, audio, transcription, inbox."""
