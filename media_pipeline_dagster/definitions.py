"""The code location: every domain's Definitions, bound to the resources of the active profile."""

import dagster as dg

from . import calls
from .settings import load_profile


@dg.definitions
def defs() -> dg.Definitions:
    profile = load_profile()
    return dg.Definitions.merge(calls.defs, dg.Definitions(resources=profile.resources))
