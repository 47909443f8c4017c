"""What an agent sees of `verirag mcp`: this starts it over stdio with the MCP SDK's client, as an agent host
does, lists its tools, searches, asks, and reads a document resource.

    make demo                      # once: the collection "demo" from samples/
    python examples/mcp_agent.py   # VERIRAG_* settings pass on to the server
"""

import asyncio
import os
import shutil
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters

QUESTION = "At what speed does Unit 3 trip on overspeed?"
# The verirag command next to this Python (a virtual environment's), else the one on PATH.
VERIRAG = str(Path(sys.executable).with_name("verirag")) if Path(sys.executable).with_name("verirag").exists() \
    else shutil.which("verirag") or "verirag"


async def main() -> None:
    # An MCP host passes a child only a few variables unless told: hand on this environment (VERIRAG_*, keys).
    server = StdioServerParameters(command=VERIRAG, args=["mcp", "--collection", "demo"], env=dict(os.environ))
    async with Client(server) as client:
        for tool in (await client.list_tools()).tools:
            print(f"tool {tool.name}: {tool.description.split('.')[0]}.")

        found = (await client.call_tool("search", {"query": QUESTION, "top_k": 3})).structured_content
        for passage in found["passages"]:
            print(f"  {passage['rank']}. {passage['doc_id']}  {passage['text'][:60]!r}")

        result = await client.call_tool("ask", {"question": QUESTION, "top_k": 4})
        if result.is_error:
            raise SystemExit(result.content[0].text)
        asked = result.structured_content
        print(f"\n{asked['answer']}\nverdict: {asked['verdict']['label']}")

        cited = asked["citations"][0]["resource"] if asked["citations"] else found["passages"][0]["resource"]
        document = await client.read_resource(cited)
        print(f"\n{cited}: {len(document.contents[0].text)} characters, starting {document.contents[0].text[:40]!r}")


asyncio.run(main())
