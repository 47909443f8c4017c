"""``verirag mcp``: verirag as a Model Context Protocol server (extra ``verirag[mcp]``). ``build_server(backend)``
makes the server; ``integrations.mcp_server.cli`` is the command."""
