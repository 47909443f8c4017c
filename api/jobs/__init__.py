"""Document uploads and the ingest jobs that store them."""
