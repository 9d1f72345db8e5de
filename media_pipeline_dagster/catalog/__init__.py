"""The media_pipeline catalog: its tables, schema setup and the queries every domain uses."""
