"""Pydantic bodies of every route, one module per resource."""
