"""Test support code that is not a fixture module: loopback servers that speak real wire formats,
and data and helpers that several test modules share."""
