"""`verirag mcp`: the Model Context Protocol server (integrations.mcp_server.server) over stdio, or over
streamable HTTP with ``--http``. Registered through the verirag.commands entry point; nothing heavy is
imported until the command runs."""

from __future__ import annotations

from typing import Optional

import typer

DEFAULT_PORT = 8765


def mcp_command(
    http: bool = typer.Option(False, "--http", help="Serve streamable HTTP instead of stdio."),
    host: str = typer.Option("127.0.0.1", "--host", help="With --http: the interface (loopback only)."),
    port: int = typer.Option(DEFAULT_PORT, "--port", help="With --http: the port."),
    path: str = typer.Option("/mcp", "--path", help="With --http: the endpoint's path."),
    api_url: Optional[str] = typer.Option(
        None, "--api-url", envvar="VERIRAG_MCP_API_URL",
        help="Serve a remote verirag API (`verirag serve`) instead of this machine's collections."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="VERIRAG_MCP_API_KEY",
                                          help="The key for --api-url."),
    collection: Optional[str] = typer.Option(None, "--collection", "-c",
                                             help="Default collection (default: VERIRAG_DEFAULT_COLLECTION)."),
) -> None:
    """Run a Model Context Protocol server: tools search, ask, verify and list_collections, and each document
    as a resource. Speaks stdio (for an agent that starts it) unless --http is given."""
    from cli.common import fail, load_settings

    try:
        from integrations.mcp_server.server import build_server
    except ImportError as error:
        fail(f"the MCP server needs the mcp package ({error}): pip install 'verirag[mcp]'")
        raise  # unreachable: fail exits
    from api.config import is_loopback
    from integrations.backend import connect

    if http and not is_loopback(host):
        # The MCP endpoint has no keys of its own: anyone who reaches it could read every collection.
        fail(f"refusing to serve MCP on {host}: the endpoint has no authentication, so it listens on loopback "
             "only. Put it behind your own authenticating proxy, or give agents `verirag serve` with API keys "
             "(--api-url, --api-key)")
    if api_url is not None:
        backend = connect(api_url, api_key, collection=collection)
    else:
        backend = connect(settings=load_settings(), collection=collection)
    server = build_server(backend)
    try:
        if http:
            typer.echo(f"verirag MCP server on http://{host}:{port}{path} (streamable HTTP)", err=True)
            server.run("streamable-http", host=host, port=port, streamable_http_path=path)
        else:
            server.run("stdio")
    finally:
        backend.close()


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp_command)
