"""Call audio, transcripts, bucket inventory and media archive as Dagster assets."""

import warnings

# Single-run backfills are a deliberate choice (one run per partition range); Dagster flags @asset's backfill_policy as beta on every import, in every process.
warnings.filterwarnings(
    "ignore", message=r"Parameter `backfill_policy` of function `asset` is currently in beta"
)
