"""The batch ingestion job: sources → plan → parse → chunk → embed → write → report."""
