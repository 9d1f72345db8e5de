"""Call audio: CSV exports and the recordings tables -> B2 objects -> media_pipeline.audio_files."""
