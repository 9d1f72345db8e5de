"""Call audio, transcripts, bucket inventory and media archive as Dagster assets."""
