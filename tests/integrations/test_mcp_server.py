"""`verirag mcp` driven by the MCP SDK's own client: over stdio (the child process the agent starts) against an
ingested collection, and over streamable HTTP. One stdio session runs every call once; the tests read its
transcript."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from mcp import Client, StdioServerParameters

from tests.api.helpers import COLLECTION, QUESTION, SMALL_SAMPLES
from tests.support.verirag_serve import REPO, START_TIMEOUT_S, VERIRAG, free_port, run_cli, verirag_environment

pytestmark = pytest.mark.slow

FACT = "Unit 3 (Kaplan, 6 MW) is rated at 250 rpm and trips on overspeed at 287.5 rpm."
RUNBOOK = f"verirag://collections/{COLLECTION}/documents/oncall_runbook.md"


def stdio_server(env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=VERIRAG[0], args=[*VERIRAG[1:], "mcp"], env=env, cwd=str(REPO))


async def session(env: dict[str, str]) -> dict:
    """Every tool and resource used once, over stdio; what came back, by name."""
    out: dict = {}
    async with Client(stdio_server(env)) as client:
        out["tools"] = {tool.name: tool for tool in (await client.list_tools()).tools}
        out["search"] = await client.call_tool("search", {"query": QUESTION, "collection": COLLECTION, "top_k": 3})
        out["search_filtered"] = await client.call_tool(
            "search", {"query": QUESTION, "top_k": 3, "filters": {"doc_id": "release_notes.txt"}})
        out["ask"] = await client.call_tool("ask", {"question": QUESTION, "collection": COLLECTION, "top_k": 4})
        out["verify"] = await client.call_tool("verify", {
            "question": QUESTION, "answer": "Unit 3 trips on overspeed at 312.5 rpm [S1].",
            "passages": [{"text": FACT, "doc_id": "oncall_runbook.md", "page": 2}]})
        out["list_collections"] = await client.call_tool("list_collections", {})
        out["missing"] = await client.call_tool("search", {"query": QUESTION, "collection": "nowhere"})
        out["resources"] = [str(r.uri) for r in (await client.list_resources()).resources]
        out["templates"] = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
        out["collection"] = await client.read_resource(f"verirag://collections/{COLLECTION}")
        out["document"] = await client.read_resource(RUNBOOK)
    return out


@pytest.fixture(scope="module")
def transcript(copy_data, model_server):
    model_server.reset()
    env = verirag_environment(copy_data(), model_server.base_url, COLLECTION)
    return asyncio.run(session(env))


def test_the_tools_describe_themselves(transcript):
    tools = transcript["tools"]
    assert set(tools) == {"search", "ask", "verify", "list_collections"}
    for tool in tools.values():
        assert len(tool.description) > 60 and tool.output_schema
        for name, field in tool.input_schema.get("properties", {}).items():
            assert field.get("description"), f"{tool.name}.{name} has no description"
    assert tools["search"].input_schema["required"] == ["query"]
    assert set(tools["verify"].input_schema["required"]) == {"answer", "passages"}
    assert tools["search"].annotations.read_only_hint


def test_search_returns_passages_with_their_sources(transcript):
    result = transcript["search"].structured_content
    assert not transcript["search"].is_error and result["collection"] == COLLECTION
    passages = result["passages"]
    assert [p["rank"] for p in passages] == list(range(1, len(passages) + 1)) and len(passages) <= 3
    assert any("287.5" in p["text"] for p in passages)
    for passage in passages:
        assert passage["doc_id"] in SMALL_SAMPLES and passage["source"]
        assert passage["resource"] == f"verirag://collections/{COLLECTION}/documents/{passage['doc_id']}"
    filtered = transcript["search_filtered"].structured_content["passages"]
    assert filtered and {p["doc_id"] for p in filtered} == {"release_notes.txt"}


def test_ask_returns_the_answer_its_citations_and_the_verdict(transcript):
    result = transcript["ask"].structured_content
    assert "287.5" in result["answer"] and result["verdict"]["label"] == "supported"
    [citation] = result["citations"]
    assert f"[{citation['label']}]" in result["answer"] and "287.5" in citation["text"]
    assert [c["status"] for c in result["verdict"]["claims"] if c["origin"] == "answer"] == ["supported"]


def test_verify_finds_the_changed_number(transcript):
    verdict = transcript["verify"].structured_content
    assert verdict["label"] == "unsupported"
    [claim] = [c for c in verdict["claims"] if c["origin"] == "answer"]
    assert claim["status"] == "contradicted" and claim["evidence"]["doc_id"] == "oncall_runbook.md"


def test_list_collections_and_a_missing_one(transcript):
    [listed] = transcript["list_collections"].structured_content["collections"]
    assert (listed["name"], listed["documents"]) == (COLLECTION, len(SMALL_SAMPLES))
    missing = transcript["missing"]
    assert missing.is_error and "nowhere" in missing.content[0].text and "does not exist" in missing.content[0].text


def test_documents_are_resources(transcript):
    assert transcript["resources"] == ["verirag://collections"]
    assert set(transcript["templates"]) == {"verirag://collections/{collection}",
                                            "verirag://collections/{collection}/documents/{+doc_id}"}
    listing = json.loads(transcript["collection"].contents[0].text)
    assert [d["doc_id"] for d in listing["documents"]] == sorted(SMALL_SAMPLES)
    assert RUNBOOK in [d["resource"] for d in listing["documents"]]
    text = transcript["document"].contents[0].text
    assert text.startswith("HydroView On-Call Runbook") and "287.5" in text


def test_streamable_http_serves_the_same_tools(copy_data, model_server):
    import subprocess

    env = verirag_environment(copy_data(), model_server.base_url, COLLECTION)
    port = free_port()
    process = subprocess.Popen([*VERIRAG, "mcp", "--http", "--port", str(port)], env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, process.stderr.read().decode()
            try:
                httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "verirag mcp --http did not start"
                time.sleep(0.3)

        async def call():
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                tools = {tool.name for tool in (await client.list_tools()).tools}
                listed = await client.call_tool("list_collections", {})
                return tools, listed

        tools, listed = asyncio.run(call())
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert tools == {"search", "ask", "verify", "list_collections"}
    assert [c["name"] for c in listed.structured_content["collections"]] == [COLLECTION]


def test_http_refuses_to_listen_beyond_loopback(tmp_path):
    env = verirag_environment(tmp_path, "http://127.0.0.1:9", COLLECTION)
    result = run_cli(env, "mcp", "--http", "--host", "0.0.0.0")
    assert result.returncode == 1 and "loopback only" in result.stderr
