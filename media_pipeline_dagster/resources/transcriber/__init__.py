"""Transcription providers (OpenAI and local Whisper) behind one resource; see ``resource``."""
