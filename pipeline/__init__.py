"""The Bytewax stream: event log -> validate -> sessions -> Parquet lake + live snapshot."""
