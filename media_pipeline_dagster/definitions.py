"""The code location: every domain's Definitions, bound to the resources of the active profile."""

import dagster as dg

from .archive.definitions import defs as archive_defs
from .calls.definitions import defs as calls_defs
from .inventory.definitions import defs as inventory_defs
from .operations.definitions import defs as operations_defs
from .settings import load_profile
from .transcription.definitions import defs as transcription_defs


@dg.definitions
def defs() -> dg.Definitions:
    profile = load_profile()
    return dg.Definitions.merge(
        calls_defs,
        transcription_defs,
        inventory_defs,
        archive_defs,
        operations_defs,
        dg.Definitions(resources=profile.resources, executor=profile.executor),
    )
