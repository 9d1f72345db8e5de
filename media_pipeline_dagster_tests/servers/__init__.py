"""Local servers (PostgreSQL, S3, HTTP origins) used by the test suite."""
