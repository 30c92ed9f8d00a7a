"""Parquet lake written by the pipeline and the DuckDB catalog of views over it."""
