"""The `verirag` command line: the app (cli.app), what commands share (cli.common), and the search, ask
and verify commands. rag never imports it; ingest, api and eval add their own commands through the
``verirag.commands`` entry points, and only their ``cli`` modules import cli.common."""
