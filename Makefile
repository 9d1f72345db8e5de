.PHONY: demo test bench dev
demo:  ## ingest the shipped sample calls in the local profile
	bash scripts/demo.sh
test:  ## the whole test suite against real PostgreSQL, SeaweedFS and local HTTP servers
	bash scripts/test.sh
bench:  ## ingestion benchmark (prints figures, compares with rclone, s5cmd and the seed's loop)
	bash scripts/bootstrap.sh dev,bench && .venv/bin/python benchmarks/ingest.py
dev:  ## the Dagster UI on the local profile
	bash scripts/bootstrap.sh && .venv/bin/dagster dev
