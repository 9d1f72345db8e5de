.PHONY: demo test bench dev screenshots
PORT ?= 3000
demo:  ## ingest the shipped sample calls in the local profile
	bash scripts/demo.sh
test:  ## the whole test suite against real PostgreSQL, SeaweedFS and local HTTP servers
	bash scripts/test.sh
bench:  ## ingestion benchmark (prints figures, compares with rclone, s5cmd and the seed's loop)
	bash scripts/bootstrap.sh dev,bench && .venv/bin/python benchmarks/ingest.py
dev:  ## the Dagster UI on the local profile, with the demo's runs and partitions (make dev PORT=3001)
	bash scripts/bootstrap.sh && mkdir -p .media_pipeline/dagster_home \
	  && { [ -f .media_pipeline/dagster_home/dagster.yaml ] || cp dagster.yaml .media_pipeline/dagster_home/; } \
	  && DAGSTER_HOME=$(CURDIR)/.media_pipeline/dagster_home .venv/bin/dagster dev -p $(PORT)
screenshots:  ## screenshots of the UI after the demo, in Debian's Chromium (docs/operations.md)
	bash scripts/bootstrap.sh dev,ui && .venv/bin/python scripts/screenshots.py
