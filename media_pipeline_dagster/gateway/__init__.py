"""On-demand transcription API (the old transcription gateway, same contract): ``uvicorn media_pipeline_dagster.gateway:app``.

The app is built on first access from the active profile, so importing this package
(e.g. for Dagster's definitions) costs nothing.
"""

_app = None


def __getattr__(name: str):
    global _app
    if name == "app":
        if _app is None:
            from .api import app_from_profile

            _app = app_from_profile()
        return _app
    raise AttributeError(name)
