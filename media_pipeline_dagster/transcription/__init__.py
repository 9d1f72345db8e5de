"""Transcriptions: audio_files -> OpenAI or a local Whisper model -> media_pipeline.transcriptions + transcript objects."""
