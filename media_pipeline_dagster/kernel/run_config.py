"""The words every domain's run config uses for the same switch, as small mixins.

A domain's config inherits only the switches that mean something for it and may restate a
field to give its own default or description (pydantic keeps the name and type):

* ``dry_run``: plan and report only, write nothing;
* ``limit``: at most this many items in this run;
* ``retry_failed``: try again items whose failures are recorded;
* ``force``: do again items that are already done;
* ``concurrency``: items in flight at once.

Renamed fields stay accepted for one release through :class:`RenamedFields`: Dagster checks run
config against the fields it sees, so a pydantic alias would be refused before pydantic runs;
the old name is kept as an optional field marked deprecated and copied onto the new one.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import dagster as dg
from pydantic import Field, model_validator


class DryRun(dg.Config):
    dry_run: bool = Field(default=False, description="Plan and report only; write nothing.")


class Limit(dg.Config):
    limit: int | None = Field(
        default=None, ge=0, description="At most this many items in this run; empty: all."
    )


class RetryFailed(dg.Config):
    retry_failed: bool = Field(
        default=False, description="Try again items whose failures are recorded."
    )


class Force(dg.Config):
    force: bool = Field(default=False, description="Do again items that are already done.")


class Concurrency(dg.Config):
    concurrency: int = Field(default=8, ge=1, le=64, description="Items in flight at once.")


def deprecated_name_of(new: str) -> str:
    return f"Deprecated: the old name of {new}; use {new}. Accepted until the next release."


class RenamedFields(dg.Config):
    """Copies a deprecated field's value onto its new name. A subclass declares ``RENAMED``
    (old name -> new name) and the old names as optional fields (default ``None``)."""

    RENAMED: ClassVar[dict[str, str]] = {}

    @model_validator(mode="after")
    def _take_old_names(self) -> RenamedFields:
        for old, new in self.RENAMED.items():
            value = getattr(self, old)
            if value is None:
                continue
            if new in self.model_fields_set and getattr(self, new) != value:
                raise ValueError(
                    f"{old} is the old name of {new}; set only {new} (got {new}={getattr(self, new)!r}, "
                    f"{old}={value!r})"
                )
            warnings.warn(
                f"run config field {old!r} is deprecated; use {new!r}",
                DeprecationWarning,
                stacklevel=2,
            )
            object.__setattr__(self, new, value)  # Config objects are frozen
        return self
