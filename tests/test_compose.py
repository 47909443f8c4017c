"""docker-compose.yml: valid against the Compose Specification, and consistent with itself.

No Docker is needed (none runs here, nor in CI): the Compose Specification's schema is vendored in
tests/data/ (see its README), variables are resolved to their defaults the way Compose resolves
them, and the shell snippets that the containers run (healthchecks, the cluster's init script) run
here against small stand-in HTTP servers.

`check_compose` holds every consistency rule; `test_checker_catches_broken_copies` feeds it
deliberately broken copies of the file to show that each rule can fail. Two tests import the app
(rag.settings, rag.store.base) so that the file cannot drift from what the code reads and creates.
"""

from __future__ import annotations

import copy
import hashlib
import http.server
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema.validators import validator_for

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SCHEMA_FILE = Path(__file__).parent / "data" / "compose-spec.json"
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"

QDRANT_IMAGE = "qdrant/qdrant"
QDRANT_HTTP_PORT = 6333
QDRANT_P2P_PORT = 6335
QDRANT_URL_VAR = "VERIRAG_QDRANT_URL"
COLLECTION_VAR = "VERIRAG_DEFAULT_COLLECTION"  # rag.settings: the collection used when none is given
SERVE_COMMAND = ["verirag", "serve", "--host", "0.0.0.0", "--port", "8000"]
# Tags that move: an image on one of these is not pinned, whatever it is called.
FLOATING_TAGS = {"latest", "server", "full", "light", "main", "master", "nightly", "edge", "stable", "dev"}


# --- Loading: YAML, then Compose's variable interpolation ------------------------------------------

_VARIABLE = re.compile(
    r"""\$(?:
        (?P<escaped>\$)
      | (?P<named>[_a-zA-Z][_a-zA-Z0-9]*)
      | \{(?P<braced>[_a-zA-Z][_a-zA-Z0-9]*)(?:(?P<op>:?[-?+])(?P<arg>[^}$]*))?\}
      | (?P<invalid>)
    )""",
    re.VERBOSE,
)


def interpolate(value: Any, env: Mapping[str, str], without_default: set[str] | None = None) -> Any:
    """Resolve ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR:+alt}, $VAR and $$ as
    Compose does, in every string value (not in keys). Names used with no default are added to
    `without_default`. Returns new containers: YAML anchors no longer share objects afterwards."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, without_default) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, without_default) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"] is not None:
            return "$"
        if match["invalid"] is not None:
            raise ValueError(f"invalid interpolation in {value!r}")
        name = match["named"] or match["braced"]
        op, arg, current = match["op"], match["arg"], env.get(name)
        if op is None:
            if without_default is not None:
                without_default.add(name)
            return current or ""
        if op == ":-":
            return current if current else arg
        if op == "-":
            return current if current is not None else arg
        if op == ":+":
            return arg if current else ""
        if op == "+":
            return arg if current is not None else ""
        if (op == ":?" and current) or (op == "?" and current is not None):
            return current
        raise ValueError(f"required variable {name} is missing: {arg}")

    return _VARIABLE.sub(substitute, value)


def load_raw(path: Path = COMPOSE_FILE) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_compose(path: Path = COMPOSE_FILE, env: Mapping[str, str] | None = None) -> dict:
    """The compose model as Compose sees it with `env` (default: nothing set, so every default)."""
    return interpolate(load_raw(path), {} if env is None else env)


# --- Helpers over the model ------------------------------------------------------------------------


def services(compose: dict) -> dict[str, dict]:
    return compose.get("services") or {}


def environment(service: dict) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def depends_on(service: dict) -> dict[str, dict]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return {name: (cfg or {}) for name, cfg in deps.items()}


def transitive_deps(compose: dict, name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in depends_on(services(compose).get(todo.pop(), {})):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def command_args(service: dict, key: str = "command") -> list[str]:
    cmd = service.get(key)
    if cmd is None:
        return []
    return [str(a) for a in cmd] if isinstance(cmd, list) else shlex.split(cmd)


def option(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None


def mounts(service: dict) -> list[dict]:
    """Volumes in long form: type (volume or bind), source, target, read_only."""
    out = []
    for vol in service.get("volumes") or []:
        if isinstance(vol, dict):
            out.append(
                {
                    "type": vol.get("type", "volume"),
                    "source": vol.get("source"),
                    "target": vol["target"],
                    "read_only": bool(vol.get("read_only")),
                }
            )
            continue
        parts = vol.split(":")
        if len(parts) == 1:
            out.append({"type": "volume", "source": None, "target": parts[0], "read_only": False})
            continue
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else ""
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        out.append({"type": kind, "source": source, "target": target, "read_only": "ro" in mode.split(",")})
    return out


def image_tag(ref: str) -> str | None:
    if "@" in ref:
        return ref.split("@", 1)[1]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def image_repo(ref: str) -> str:
    ref = ref.split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def is_qdrant(service: dict) -> bool:
    return image_repo(service.get("image", "")) == QDRANT_IMAGE


def is_verirag(service: dict) -> bool:
    return "build" in service or image_repo(service.get("image", "")) == "verirag"


def profile_sets(compose: dict) -> list[frozenset[str]]:
    """Profile selections to check: none (`up`), each profile alone (`--profile p`), and each
    service's own profiles (what `docker compose run SERVICE` switches on)."""
    named = {p for s in services(compose).values() for p in s.get("profiles") or []}
    sets = {frozenset()} | {frozenset({p}) for p in named}
    sets |= {frozenset(s["profiles"]) for s in services(compose).values() if s.get("profiles")}
    return sorted(sets, key=lambda s: (len(s), sorted(s)))


def enabled(service: dict, active: frozenset[str]) -> bool:
    profiles = service.get("profiles") or []
    return not profiles or bool(active.intersection(profiles))


def enabled_services(compose: dict, active: frozenset[str]) -> set[str]:
    return {name for name, svc in services(compose).items() if enabled(svc, active)}


def host_path(service: dict, container_path: str, root: Path) -> Path | None:
    """Where a path inside the container comes from on the host, through a bind mount."""
    for m in mounts(service):
        target = m["target"].rstrip("/")
        if m["type"] == "bind" and (container_path == target or container_path.startswith(target + "/")):
            return (root / m["source"]).joinpath(container_path[len(target) :].lstrip("/"))
    return None


def script_text(service: dict) -> str:
    return " ".join(command_args(service, "entrypoint") + command_args(service))


# --- The consistency rules -------------------------------------------------------------------------


def check_dependencies(compose: dict) -> list[str]:
    errors = []
    svcs = services(compose)
    for name, svc in svcs.items():
        for dep, cfg in depends_on(svc).items():
            if dep not in svcs:
                errors.append(f"{name}: depends_on {dep!r}, which is not a service")
                continue
            condition = cfg.get("condition", "service_started")
            if condition == "service_healthy" and not svcs[dep].get("healthcheck"):
                errors.append(f"{name}: waits for {dep!r} to be healthy, but {dep} has no healthcheck")
            if condition == "service_completed_successfully" and svcs[dep].get("restart", "no") != "no":
                errors.append(f"{name}: waits for {dep!r} to complete, but {dep} restarts")
        if name in transitive_deps(compose, name):
            errors.append(f"{name}: depends on itself through depends_on")
    return errors


def check_profiles(compose: dict) -> list[str]:
    """Compose rejects the whole project when an enabled service depends on a disabled one."""
    errors = []
    for active in profile_sets(compose):
        on = enabled_services(compose, active)
        for name in sorted(on):
            for dep in depends_on(services(compose)[name]):
                if dep in services(compose) and dep not in on:
                    label = ",".join(sorted(active)) or "none"
                    errors.append(f"profiles [{label}]: {name} depends on {dep}, which is off")
    return errors


def check_volumes(compose: dict) -> list[str]:
    errors = []
    declared = set(compose.get("volumes") or {})
    used: set[str] = set()
    for name, svc in services(compose).items():
        for m in mounts(svc):
            if m["type"] == "volume" and m["source"]:
                used.add(m["source"])
                if m["source"] not in declared:
                    errors.append(f"{name}: named volume {m['source']!r} is not declared under volumes")
    errors += [f"volume {v!r} is declared but no service mounts it" for v in sorted(declared - used)]
    return errors


def check_images(compose: dict) -> list[str]:
    errors = []
    for name, svc in services(compose).items():
        ref = svc.get("image")
        if not ref:
            if "build" not in svc:
                errors.append(f"{name}: neither image nor build")
            continue
        tag = image_tag(ref)
        if tag is None:
            errors.append(f"{name}: image {ref!r} has no tag")
        elif tag.lower() == "latest":
            errors.append(f"{name}: image {ref!r} uses latest")
        elif "build" not in svc and not tag.startswith("sha256:"):
            # Pulled images: a version, not a moving name.
            if tag.lower() in FLOATING_TAGS or not re.search(r"\d", tag):
                errors.append(f"{name}: image {ref!r} is not pinned to a version")
    return errors


def check_qdrant_urls(compose: dict) -> list[str]:
    errors = []
    svcs = services(compose)
    for name, svc in svcs.items():
        if not is_verirag(svc):
            continue
        url = environment(svc).get(QDRANT_URL_VAR)
        if not url:
            errors.append(f"{name}: no {QDRANT_URL_VAR}")
            continue
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
        if parts.scheme != "http" or host not in svcs:
            errors.append(f"{name}: {QDRANT_URL_VAR}={url} does not name a service")
            continue
        if not is_qdrant(svcs[host]):
            errors.append(f"{name}: {QDRANT_URL_VAR}={url} names {host}, which is not Qdrant")
        if port != QDRANT_HTTP_PORT:
            errors.append(f"{name}: {QDRANT_URL_VAR}={url} is not Qdrant's REST port {QDRANT_HTTP_PORT}")
        if host not in transitive_deps(compose, name):
            errors.append(f"{name}: {QDRANT_URL_VAR} names {host}, which it does not depend on")
    return errors


def check_qdrant_storage(compose: dict) -> list[str]:
    errors = []
    owners: dict[str, str] = {}
    for name, svc in services(compose).items():
        if not is_qdrant(svc):
            continue
        storage = [m for m in mounts(svc) if m["target"] == "/qdrant/storage"]
        if not storage or storage[0]["type"] != "volume" or not storage[0]["source"]:
            errors.append(f"{name}: /qdrant/storage is not on a named volume")
            continue
        source = storage[0]["source"]
        if source in owners:
            errors.append(f"{name}: shares storage volume {source!r} with {owners[source]}")
        owners[source] = name
    return errors


def _url_host_port(url: str | None) -> tuple[str | None, int | None]:
    if not url:
        return None, None
    parts = urlsplit(url)
    return parts.hostname, parts.port


def check_cluster(compose: dict, root: Path = ROOT) -> list[str]:
    svcs = services(compose)
    nodes = [
        n for n, s in svcs.items() if str(environment(s).get("QDRANT__CLUSTER__ENABLED")).lower() == "true"
    ]
    if len(nodes) < 3:
        return [f"cluster: {len(nodes)} Qdrant nodes in distributed mode, want at least 3"]
    errors = []
    seeds = []
    for name in nodes:
        svc = svcs[name]
        args = command_args(svc)
        if "cluster" not in (svc.get("profiles") or []):
            errors.append(f"{name}: cluster node outside the cluster profile")
        uri_host, uri_port = _url_host_port(option(args, "--uri"))
        if uri_host != name or uri_port != QDRANT_P2P_PORT:
            want = f"http://{name}:{QDRANT_P2P_PORT}"
            errors.append(f"{name}: --uri must announce {want}, got {option(args, '--uri')}")
        bootstrap = option(args, "--bootstrap")
        if bootstrap is None:
            seeds.append(name)
            continue
        host, port = _url_host_port(bootstrap)
        if host not in nodes or host == name:
            errors.append(f"{name}: bootstraps from {bootstrap}, which is not another cluster node")
        elif port != QDRANT_P2P_PORT:
            errors.append(f"{name}: bootstraps from {bootstrap}, not the p2p port {QDRANT_P2P_PORT}")
        elif host not in transitive_deps(compose, name):
            errors.append(f"{name}: bootstraps from {host} but does not wait for it (depends_on)")
    if len(seeds) != 1:
        errors.append(f"cluster: exactly one node may start without --bootstrap, found {seeds}")

    inits = [n for n, s in svcs.items() if "/collections/" in script_text(s)]
    if not inits:
        return errors + ["cluster: no service creates the collection"]
    for name in inits:
        errors += _check_cluster_init(compose, name, nodes, root)
    return errors


def _check_cluster_init(compose: dict, name: str, nodes: list[str], root: Path) -> list[str]:
    svc = services(compose)[name]
    errors = []
    if "cluster" not in (svc.get("profiles") or []):
        errors.append(f"{name}: outside the cluster profile")
    deps = depends_on(svc)
    for node in nodes:
        if deps.get(node, {}).get("condition") != "service_healthy":
            errors.append(f"{name}: does not wait for {node} to be healthy")
    host, port = _url_host_port(environment(svc).get("QDRANT_URL"))
    if host not in nodes or port != QDRANT_HTTP_PORT:
        errors.append(f"{name}: QDRANT_URL={environment(svc).get('QDRANT_URL')} is not a node's REST port")
    collection = environment(svc).get("VERIRAG_COLLECTION")
    for other, osvc in services(compose).items():
        if is_verirag(osvc) and environment(osvc).get(COLLECTION_VAR) != collection:
            errors.append(f"{name}: creates collection {collection!r} but {other} uses another")
    if "$name" not in script_text(svc) or "name=\"$VERIRAG_COLLECTION\"" not in script_text(svc):
        errors.append(f"{name}: the script does not take the collection from VERIRAG_COLLECTION")

    bodies = []
    for container_path in re.findall(r"@(/\S+\.json)", script_text(svc)):
        path = host_path(svc, container_path, root)
        if path is None or not path.is_file():
            errors.append(f"{name}: {container_path} does not come from a file in the repository")
            continue
        bodies.append(json.loads(path.read_text(encoding="utf-8")))
    create = [b for b in bodies if "vectors" in b]
    if len(create) != 1:
        return errors + [f"{name}: want one collection body, found {len(create)}"]
    errors += check_collection_config(create[0], replicas_max=len(nodes))
    if payload_indexes(svc).get("doc_id") != "keyword" or "QDRANT_PAYLOAD_INDEXES" not in script_text(svc):
        errors.append(f"{name}: no keyword payload index on doc_id")
    return errors


def payload_indexes(service: dict) -> dict[str, str]:
    """QDRANT_PAYLOAD_INDEXES of the init service: "field:type field:type …" as {field: type}."""
    specs = str(environment(service).get("QDRANT_PAYLOAD_INDEXES") or "").split()
    return dict(spec.split(":", 1) for spec in specs if ":" in spec)


def check_collection_config(body: dict, replicas_max: int) -> list[str]:
    errors = []
    shards, replicas = body.get("shard_number", 1), body.get("replication_factor", 1)
    if not shards > 1:
        errors.append(f"collection: shard_number {shards} does not shard")
    if not replicas > 1:
        errors.append(f"collection: replication_factor {replicas} does not replicate")
    if replicas > replicas_max:
        errors.append(f"collection: replication_factor {replicas} exceeds the {replicas_max} nodes")
    dense = (body.get("vectors") or {}).get("dense") or {}
    if dense.get("size") != 384 or dense.get("distance") != "Cosine":
        errors.append(f"collection: dense vector must be 384/Cosine, got {dense}")
    bm25 = (body.get("sparse_vectors") or {}).get("bm25")
    if not isinstance(bm25, dict) or bm25.get("modifier") != "idf":
        errors.append(f"collection: sparse vector bm25 must have modifier idf, got {bm25}")
    return errors


def check_compose(compose: dict, root: Path = ROOT) -> list[str]:
    """Every consistency rule; an empty list means the file holds together."""
    return (
        check_dependencies(compose)
        + check_profiles(compose)
        + check_volumes(compose)
        + check_images(compose)
        + check_qdrant_urls(compose)
        + check_qdrant_storage(compose)
        + check_cluster(compose, root)
    )


# --- Schema ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema: dict):
    return validator_for(schema)(schema)


@pytest.fixture()
def compose() -> dict:
    return load_compose()


def schema_errors(validator, document: dict) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(document)
    ]


def test_vendored_schema_is_the_recorded_file():
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_vendored_schema_is_a_valid_schema_of_its_dialect(schema: dict):
    cls = validator_for(schema, default=None)
    assert cls is not None, f"unknown $schema {schema.get('$schema')}"
    cls.check_schema(schema)  # raises SchemaError when the schema breaks its own meta-schema
    assert schema["title"] == "Compose Specification"
    assert {"services", "volumes", "networks"} <= set(schema["properties"])


def test_compose_file_matches_the_compose_specification(validator, compose: dict):
    assert schema_errors(validator, compose) == []


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda c: c.update(servicez=c.pop("services")), id="misspelt-top-level-key"),
        pytest.param(
            lambda c: c["services"]["api"].update(depends_on={"qdrant": {"condition": "up"}}), id="bad-condition"
        ),
        pytest.param(
            lambda c: c["services"]["qdrant"].update(healthcheck={"test": ["CMD"], "intervall": "5s"}),
            id="misspelt-key",
        ),
        pytest.param(lambda c: c["services"]["api"].update(volumes="verirag-data:/data"), id="string-for-list"),
    ],
)
def test_schema_rejects_broken_copies(validator, compose: dict, breakage: Callable[[dict], None]):
    broken = copy.deepcopy(compose)
    breakage(broken)
    assert schema_errors(validator, broken)


# --- Consistency -----------------------------------------------------------------------------------


def test_compose_file_is_consistent(compose: dict):
    assert check_compose(compose) == []


def test_every_variable_has_a_default():
    without_default: set[str] = set()
    interpolate(load_raw(), {}, without_default)
    assert without_default == set()


def test_defaults_can_be_overridden_from_the_environment():
    compose = load_compose(
        env={"VERIRAG_COLLECTION": "papers", "VERIRAG_DOCUMENTS": "/srv/papers", "QDRANT_VERSION": "v1.19.9"}
    )
    svcs = services(compose)
    assert command_args(svcs["ingest"])[-2:] == ["--collection", "papers"]
    assert "/srv/papers:/documents:ro" in svcs["ingest"]["volumes"]
    assert environment(svcs["qdrant-cluster-init"])["VERIRAG_COLLECTION"] == "papers"
    assert environment(svcs["api"])[COLLECTION_VAR] == "papers"
    assert svcs["qdrant"]["image"] == "qdrant/qdrant:v1.19.9"
    assert check_compose(compose) == []


def test_plain_up_starts_qdrant_and_the_api_only(compose: dict):
    assert enabled_services(compose, frozenset()) == {"qdrant", "api"}


def test_profiles(compose: dict):
    svcs = services(compose)
    assert svcs["ingest"]["profiles"] == ["ingest"]
    assert svcs["llama"]["profiles"] == ["llama"]
    cluster = {n for n, s in svcs.items() if "cluster" in (s.get("profiles") or [])}
    assert cluster == {"qdrant-node1", "qdrant-node2", "qdrant-node3", "qdrant-cluster-init", "api-cluster"}


def test_qdrant_service(compose: dict):
    qdrant = services(compose)["qdrant"]
    assert image_repo(qdrant["image"]) == QDRANT_IMAGE
    published = {p.rsplit(":", 1)[-1] for p in qdrant["ports"]}
    assert published == {"6333", "6334"}
    storage = {"type": "volume", "source": "qdrant-storage", "target": "/qdrant/storage", "read_only": False}
    assert storage in mounts(qdrant)
    # The image has no curl or wget: a healthcheck built on them would never pass.
    test = " ".join(qdrant["healthcheck"]["test"])
    assert "curl" not in test and "wget" not in test and "/dev/tcp/127.0.0.1/6333" in test


def test_api_service(compose: dict):
    api = services(compose)["api"]
    assert "build" in api
    assert command_args(api) == SERVE_COMMAND
    env = environment(api)
    assert env["VERIRAG_QDRANT_URL"] == "http://qdrant:6333"
    assert env["VERIRAG_DATA_DIR"] == "/data"
    assert "VERIRAG_LLAMA_BASE_URL" in env
    assert any(m["target"] == "/data" and m["type"] == "volume" for m in mounts(api))
    assert depends_on(api) == {"qdrant": {"condition": "service_healthy"}}
    assert "/healthz" in " ".join(api["healthcheck"]["test"])


def test_ingest_service(compose: dict):
    svcs = services(compose)
    ingest = svcs["ingest"]
    assert ingest["image"] == svcs["api"]["image"]
    assert command_args(ingest) == ["verirag", "ingest", "/documents", "--collection", "docs"]
    documents = {"type": "bind", "source": "./documents", "target": "/documents", "read_only": True}
    assert documents in mounts(ingest)
    assert environment(ingest)["VERIRAG_QDRANT_URL"] == environment(svcs["api"])["VERIRAG_QDRANT_URL"]
    assert depends_on(ingest) == {"qdrant": {"condition": "service_healthy"}}


def test_llama_service(compose: dict):
    llama = services(compose)["llama"]
    assert image_repo(llama["image"]) == "ghcr.io/ggml-org/llama.cpp"
    args = command_args(llama)
    assert option(args, "-m") == "/models/model.gguf"
    assert option(args, "--host") == "0.0.0.0"
    port = option(args, "--port")
    assert port == "8080"
    assert {"type": "bind", "source": "./models", "target": "/models", "read_only": True} in mounts(llama)
    assert f"http://127.0.0.1:{port}/health" in llama["healthcheck"]["test"]
    # The api reads VERIRAG_LLAMA_BASE_URL; the file documents the value that reaches this server.
    assert f"VERIRAG_LLAMA_BASE_URL=http://llama:{port}/v1" in COMPOSE_FILE.read_text(encoding="utf-8")


def test_cluster_collection_config_files():
    body = json.loads((ROOT / "deploy" / "cluster-collection.json").read_text(encoding="utf-8"))
    assert check_collection_config(body, replicas_max=3) == []
    assert body["shard_number"] == 6 and body["replication_factor"] == 2


def test_api_cluster_uses_the_cluster(compose: dict):
    api = services(compose)["api-cluster"]
    assert environment(api)["VERIRAG_QDRANT_URL"] == "http://qdrant-node1:6333"
    assert depends_on(api) == {"qdrant-cluster-init": {"condition": "service_completed_successfully"}}


def test_replicas_share_one_database_and_one_upload_volume_but_not_a_data_directory(compose: dict):
    svcs = services(compose)
    replicas = sorted(n for n, s in svcs.items() if "replicas" in (s.get("profiles") or []) and is_verirag(s))
    assert len(replicas) >= 2
    urls = {environment(svcs[name])["VERIRAG_JOBS_URL"] for name in replicas}
    assert len(urls) == 1
    database = urlsplit(urls.pop())
    assert database.scheme == "postgresql" and database.hostname in svcs and database.port == 5432
    assert image_repo(svcs[database.hostname]["image"]) == "postgres"
    data_volumes = set()
    for name in replicas:
        svc = svcs[name]
        assert depends_on(svc)[database.hostname] == {"condition": "service_healthy"}
        uploads = environment(svc)["VERIRAG_API_UPLOADS_DIR"]
        assert {"type": "volume", "source": "verirag-uploads", "target": uploads, "read_only": False} in mounts(svc)
        data_volumes |= {m["source"] for m in mounts(svc) if m["target"] == environment(svc)["VERIRAG_DATA_DIR"]}
    assert len(data_volumes) == len(replicas)  # an embedded store is one process's: never share /data


def test_the_ray_profile_runs_a_head_a_worker_and_an_ingest_that_joins_them(compose: dict):
    svcs = services(compose)
    head, worker, ingest = svcs["ray-head"], svcs["ray-worker"], svcs["ingest-ray"]
    assert command_args(head)[:3] == ["ray", "start", "--head"] and "--port=6379" in command_args(head)
    assert "--address=ray-head:6379" in command_args(worker)
    assert depends_on(worker)["ray-head"] == {"condition": "service_healthy"}
    args = command_args(ingest)
    assert args[:2] == ["verirag", "ingest"] and option(args, "--engine") == "ray"
    assert option(args, "--ray-address") == "ray-head:6379"
    assert head["image"] == worker["image"] == ingest["image"]  # one Ray and one Python version
    assert "ray" in head["build"]["args"]["VERIRAG_EXTRAS"].split(",")
    assert enabled_services(compose, frozenset({"ray"})) >= {"ray-head", "ray-worker"}
    assert "ingest-ray" not in enabled_services(compose, frozenset({"ray"}))


# Settings that the compose file sets but that rag.settings does not have yet; pydantic-settings
# ignores unknown VERIRAG_* variables, so a name here is inert until the code reads it.
NOT_YET_SETTINGS = {"VERIRAG_LLAMA_BASE_URL"}


def test_verirag_variables_are_settings(compose: dict):
    """A misspelt VERIRAG_* name is silently ignored by the app: catch it here."""
    from api.config import ApiSettings
    from rag.settings import Settings

    known = {f"VERIRAG_{field.upper()}" for field in Settings.model_fields}
    # The API's own settings: VERIRAG_API_<FIELD>, or the field's alias (VERIRAG_JOBS_URL).
    for field, info in ApiSettings.model_fields.items():
        known.add(info.validation_alias if isinstance(info.validation_alias, str) else f"VERIRAG_API_{field.upper()}")
    for name, svc in services(compose).items():
        if is_verirag(svc):
            unknown = {k for k in environment(svc) if k.startswith("VERIRAG_")} - known - NOT_YET_SETTINGS
            assert not unknown, f"{name}: {sorted(unknown)} are not fields of rag.settings.Settings or api.config"


def test_cluster_collection_is_the_one_verirag_would_create(compose: dict):
    """verirag opens an existing collection as it is: names, vector size and indexes must match."""
    from rag.embedding import default_model_path
    from rag.chunk_record import INTEGER_INDEXES, KEYWORD_INDEXES
    from rag.store.base import DENSE_VECTOR, SPARSE_VECTOR

    body = json.loads((ROOT / "deploy" / "cluster-collection.json").read_text(encoding="utf-8"))
    assert set(body["vectors"]) == {DENSE_VECTOR}
    # The default embedder's width, read from its files (no need to load the model for it).
    pooling = json.loads((Path(default_model_path()) / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    assert body["vectors"][DENSE_VECTOR]["size"] == pooling["word_embedding_dimension"]
    assert set(body["sparse_vectors"]) == {SPARSE_VECTOR}
    expected = {field: "keyword" for field in KEYWORD_INDEXES} | {field: "integer" for field in INTEGER_INDEXES}
    assert payload_indexes(services(compose)["qdrant-cluster-init"]) == expected


def _set_env(service: dict, key: str, value: str) -> None:
    service["environment"] = {**environment(service), key: value}


def _write_collection(root: Path, **changes: Any) -> None:
    body = json.loads((root / "deploy" / "cluster-collection.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    (root / "deploy" / "cluster-collection.json").write_text(json.dumps(body), encoding="utf-8")


BREAKAGES: list[tuple[str, Callable[[dict, Path], None], str]] = [
    (
        "depends-on-missing-service",
        lambda c, r: c["services"]["api"]["depends_on"].update({"qdrant-missing": {}}),
        "'qdrant-missing', which is not a service",
    ),
    (
        "default-service-depends-on-profile",
        lambda c, r: c["services"]["api"]["depends_on"].update({"llama": {"condition": "service_healthy"}}),
        "profiles [none]: api depends on llama, which is off",
    ),
    (
        "healthy-without-healthcheck",
        lambda c, r: c["services"]["qdrant"].pop("healthcheck"),
        "qdrant has no healthcheck",
    ),
    (
        "undeclared-volume",
        lambda c, r: c["volumes"].pop("verirag-data"),
        "'verirag-data' is not declared",
    ),
    (
        "unused-volume",
        lambda c, r: c["volumes"].update({"orphan": None}),
        "'orphan' is declared but no service mounts it",
    ),
    ("image-latest", lambda c, r: c["services"]["qdrant"].update(image="qdrant/qdrant:latest"), "uses latest"),
    ("image-untagged", lambda c, r: c["services"]["qdrant"].update(image="qdrant/qdrant"), "has no tag"),
    (
        "image-floating-tag",
        lambda c, r: c["services"]["llama"].update(image="ghcr.io/ggml-org/llama.cpp:server"),
        "not pinned",
    ),
    (
        "qdrant-url-to-missing-service",
        lambda c, r: _set_env(c["services"]["api"], QDRANT_URL_VAR, "http://qdrant-db:6333"),
        "does not name a service",
    ),
    (
        "qdrant-url-wrong-port",
        lambda c, r: _set_env(c["services"]["ingest"], QDRANT_URL_VAR, "http://qdrant:6334"),
        "REST port 6333",
    ),
    (
        "qdrant-url-not-a-dependency",
        lambda c, r: _set_env(c["services"]["api"], QDRANT_URL_VAR, "http://qdrant-node1:6333"),
        "which it does not depend on",
    ),
    (
        "shared-qdrant-storage",
        lambda c, r: c["services"]["qdrant-node2"].update(volumes=["qdrant-node1-storage:/qdrant/storage"]),
        "shares storage volume 'qdrant-node1-storage'",
    ),
    (
        "bootstrap-from-missing-node",
        lambda c, r: c["services"]["qdrant-node3"].update(
            command=["./qdrant", "--bootstrap", "http://qdrant-node9:6335", "--uri", "http://qdrant-node3:6335"]
        ),
        "not another cluster node",
    ),
    (
        "bootstrap-without-waiting",
        lambda c, r: c["services"]["qdrant-node2"].pop("depends_on"),
        "does not wait for it",
    ),
    (
        "two-seeds",
        lambda c, r: c["services"]["qdrant-node2"].update(command=["./qdrant", "--uri", "http://qdrant-node2:6335"]),
        "exactly one node may start without --bootstrap",
    ),
    (
        "init-does-not-wait-for-a-node",
        lambda c, r: c["services"]["qdrant-cluster-init"]["depends_on"].pop("qdrant-node3"),
        "does not wait for qdrant-node3",
    ),
    (
        "no-doc_id-index",
        lambda c, r: _set_env(c["services"]["qdrant-cluster-init"], "QDRANT_PAYLOAD_INDEXES", "source:keyword"),
        "no keyword payload index on doc_id",
    ),
    (
        "collection-name-differs",
        lambda c, r: _set_env(c["services"]["api-cluster"], COLLECTION_VAR, "other"),
        "but api-cluster uses another",
    ),
    ("not-replicated", lambda c, r: _write_collection(r, replication_factor=1), "does not replicate"),
    ("not-sharded", lambda c, r: _write_collection(r, shard_number=None), "does not shard"),
    ("too-many-replicas", lambda c, r: _write_collection(r, replication_factor=4), "exceeds the 3 nodes"),
    (
        "dense-wrong-size",
        lambda c, r: _write_collection(r, vectors={"dense": {"size": 768, "distance": "Cosine"}}),
        "384/Cosine",
    ),
    (
        "bm25-without-idf",
        lambda c, r: _write_collection(r, sparse_vectors={"bm25": {}}),
        "modifier idf",
    ),
    (
        "missing-body-file",
        lambda c, r: (r / "deploy" / "cluster-collection.json").unlink(),
        "does not come from a file",
    ),
]


@pytest.mark.parametrize("mutate, expected", [pytest.param(m, e, id=i) for i, m, e in BREAKAGES])
def test_checker_catches_broken_copies(compose: dict, tmp_path: Path, mutate, expected: str):
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    assert check_compose(compose, tmp_path) == []  # the copy starts out sound
    broken = copy.deepcopy(compose)
    mutate(broken, tmp_path)
    errors = check_compose(broken, tmp_path)
    assert any(expected in e for e in errors), errors


# --- The shell the containers run, run here -----------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers from `routes` ((method, path) -> (status, json body)), records every request."""

    routes: dict[tuple[str, str], tuple[int, Any]] = {}
    default: tuple[int, Any] = (404, {"status": "not found"})
    requests: list[tuple[str, str, bytes]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.requests.append((self.command, self.path, body))
        status, payload = self.routes.get((self.command, self.path), self.default)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def fake_server(
    routes: dict | None = None, default: tuple[int, Any] = (404, {})
) -> Iterator[tuple[int, list]]:
    handler = type("Handler", (_Recorder,), {"routes": routes or {}, "default": default, "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler.requests
    finally:
        server.shutdown()
        server.server_close()


def _healthcheck_argv(test: list[str] | str, port: int) -> list[str]:
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    kind, *args = test
    args = [re.sub(r"127\.0\.0\.1([:/])\d+", rf"127.0.0.1\g<1>{port}", a) for a in args]
    if kind == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(args)]
    assert kind == "CMD", test
    program = sys.executable if args[0] == "python" else shutil.which(args[0])
    if program is None:
        pytest.skip(f"{args[0]} is not installed here")
    return [program, *args[1:]]


@pytest.mark.parametrize(
    "service, path",
    [("qdrant", "/readyz"), ("qdrant-node2", "/readyz"), ("api", "/healthz"), ("llama", "/health")],
)
def test_healthchecks_pass_on_200_only(compose: dict, service: str, path: str):
    test = services(compose)[service]["healthcheck"]["test"]
    for status, healthy in [(200, True), (503, False)]:
        with fake_server(default=(status, {})) as (port, requests):
            run = subprocess.run(_healthcheck_argv(test, port), capture_output=True, timeout=30)
        assert (run.returncode == 0) is healthy, (status, run.stdout, run.stderr)
        assert [(m, p) for m, p, _ in requests] == [("GET", path)]
    with fake_server() as (port, _):
        pass  # the port is closed again: nothing listens there now
    run = subprocess.run(_healthcheck_argv(test, port), capture_output=True, timeout=30)
    assert run.returncode != 0


def _run_cluster_init(compose: dict, port: int, **env: str) -> subprocess.CompletedProcess:
    init = services(compose)["qdrant-cluster-init"]
    entrypoint = command_args(init, "entrypoint")
    script = command_args(init)[0].replace("@/deploy/", f"@{ROOT}/deploy/")
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed here")
    variables = {k: str(v) for k, v in environment(init).items()}
    variables.update(QDRANT_URL=f"http://127.0.0.1:{port}", PATH="/usr/local/bin:/usr/bin:/bin", **env)
    return subprocess.run([*entrypoint, script], env=variables, capture_output=True, text=True, timeout=60)


def _peers(n: int) -> dict:
    peers = {str(i): {"uri": f"http://qdrant-node{i}:6335/"} for i in range(1, n + 1)}
    return {"result": {"status": "enabled", "peers": peers, "message_send_failures": {}}, "status": "ok"}


def _cluster_routes(peers: int, exists: bool) -> dict:
    return {
        ("GET", "/cluster"): (200, _peers(peers)),
        ("GET", "/collections/docs/exists"): (200, {"result": {"exists": exists}, "status": "ok"}),
        ("PUT", "/collections/docs"): (200, {"result": True, "status": "ok"}),
        ("PUT", "/collections/docs/index?wait=true"): (200, {"result": {"status": "completed"}, "status": "ok"}),
    }


def test_cluster_init_creates_the_collection_and_its_index(compose: dict):
    with fake_server(_cluster_routes(peers=3, exists=False)) as (port, requests):
        run = _run_cluster_init(compose, port)
    assert run.returncode == 0, run.stderr
    puts = [(path, json.loads(body)) for method, path, body in requests if method == "PUT"]
    body = json.loads((ROOT / "deploy" / "cluster-collection.json").read_text(encoding="utf-8"))
    assert puts[0] == ("/collections/docs", body)
    indexes = [b for path, b in puts[1:] if path == "/collections/docs/index?wait=true"]
    assert len(indexes) == len(puts) - 1
    expected = payload_indexes(services(compose)["qdrant-cluster-init"])
    assert {b["field_name"]: b["field_schema"] for b in indexes} == expected
    assert {"field_name": "doc_id", "field_schema": "keyword"} in indexes


def test_cluster_init_leaves_an_existing_collection_alone(compose: dict):
    with fake_server(_cluster_routes(peers=3, exists=True)) as (port, requests):
        run = _run_cluster_init(compose, port)
    assert run.returncode == 0, run.stderr
    assert ("PUT", "/collections/docs") not in [(m, p) for m, p, _ in requests]


def test_cluster_init_waits_for_every_peer(compose: dict):
    with fake_server(_cluster_routes(peers=2, exists=False)) as (port, requests):
        run = _run_cluster_init(compose, port, QDRANT_WAIT_S="0")
    assert run.returncode != 0
    assert "fewer than 3 peers" in run.stderr
    assert [m for m, _, _ in requests] == ["GET"]


def test_cluster_init_fails_when_qdrant_refuses(compose: dict):
    routes = _cluster_routes(peers=3, exists=False)
    routes[("PUT", "/collections/docs")] = (400, {"status": {"error": "Bad request"}})
    with fake_server(routes) as (port, _):
        run = _run_cluster_init(compose, port)
    assert run.returncode != 0


# --- Dockerfile and .dockerignore ------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    joined = text.replace("\\\n", " ").splitlines()
    lines = [line for line in joined if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in lines]


def test_dockerfile():
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    env = " ".join(arg for op, arg in instructions if op == "ENV")
    assert "HF_HUB_OFFLINE=1" in env
    assert ("EXPOSE", "8000") in instructions
    cmd = [arg for op, arg in instructions if op == "CMD"]
    assert [json.loads(c) for c in cmd] == [SERVE_COMMAND]
    assert any(op == "RUN" and re.search(r"pip install .*/src\b", arg) for op, arg in instructions)
    assert any(op == "USER" and arg != "root" for op, arg in instructions)


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    entries = {line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()}
    assert {".venv", ".verirag", ".git", "**/__pycache__"} <= entries
