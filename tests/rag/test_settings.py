"""Settings: defaults < verirag.toml < VERIRAG_* environment < CLI overrides.

Every test builds ``Settings()`` itself (``get_settings`` is cached per process) with the
environment cleared of VERIRAG_* variables and VERIRAG_CONFIG pointing at a file of its own, so
neither the developer's shell nor a verirag.toml in the working directory leaks in.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:  # plain `pytest` (not `python -m pytest`) leaves the root out
    sys.path.insert(0, str(_REPO))

from rag.settings import CONFIG_FILE_ENV, Settings, config_file_path  # noqa: E402


@pytest.fixture
def config_file(tmp_path, monkeypatch) -> Path:
    """A clean environment; the returned path is the config file Settings reads (absent at first)."""
    for key in list(os.environ):
        if key.startswith("VERIRAG_"):
            monkeypatch.delenv(key)
    path = tmp_path / "verirag.toml"
    monkeypatch.setenv(CONFIG_FILE_ENV, str(path))
    monkeypatch.chdir(tmp_path)
    return path


def _field_errors(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in item["loc"]) for item in error.errors()}


def test_defaults(config_file):
    assert not config_file.exists()
    settings = Settings()
    assert settings.data_dir == Path(".verirag")
    assert settings.collections_dir == Path(".verirag") / "collections"
    assert settings.default_collection == "docs"
    assert settings.qdrant_url is None  # → the embedded store
    assert settings.qdrant_api_key is None
    assert settings.embed_model is None
    assert settings.embed_device == "cpu"
    assert settings.chunk_tokens == 256
    assert settings.chunk_overlap_tokens == 24
    assert settings.chunk_overlap_tokens < settings.chunk_tokens


def test_default_config_file_is_verirag_toml_in_the_working_directory(monkeypatch):
    monkeypatch.delenv(CONFIG_FILE_ENV, raising=False)
    assert config_file_path() == Path("verirag.toml")


def test_verirag_toml_in_the_working_directory_is_read(config_file, monkeypatch):
    monkeypatch.delenv(CONFIG_FILE_ENV)
    (config_file.parent / "verirag.toml").write_text("default_collection = 'from-cwd'\n")
    assert Settings().default_collection == "from-cwd"


def test_default_store_is_embedded(config_file, tmp_path):
    from rag.store import open_store
    from rag.store.base import StoreError
    from rag.store.edge import EdgeStore

    settings = Settings(data_dir=tmp_path / "data")
    store = open_store(settings, "docs", dimension=8)
    try:
        assert isinstance(store, EdgeStore)
        assert store.backend == "embedded"
        assert (tmp_path / "data" / "collections" / "docs").is_dir()
    finally:
        store.close()
    with pytest.raises(StoreError, match="ingest"):
        open_store(settings, "missing")


def test_environment_overrides(config_file, monkeypatch, tmp_path):
    monkeypatch.setenv("VERIRAG_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("VERIRAG_QDRANT_URL", "http://localhost:6333")
    monkeypatch.setenv("VERIRAG_QDRANT_API_KEY", "s3cret")
    monkeypatch.setenv("VERIRAG_CHUNK_TOKENS", "128")
    monkeypatch.setenv("VERIRAG_EMBED_DEVICE", "cuda:1")
    monkeypatch.setenv("VERIRAG_QDRANT_TIMEOUT_S", "2.5")
    settings = Settings()
    assert settings.data_dir == tmp_path / "elsewhere"
    assert settings.collections_dir == tmp_path / "elsewhere" / "collections"
    assert settings.qdrant_url == "http://localhost:6333"
    assert isinstance(settings.qdrant_api_key, SecretStr)
    assert settings.qdrant_api_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.chunk_tokens == 128
    assert settings.embed_device == "cuda:1"
    assert settings.qdrant_timeout_s == 2.5


def test_environment_names_are_case_insensitive(config_file, monkeypatch):
    monkeypatch.setenv("verirag_default_collection", "lower")
    assert Settings().default_collection == "lower"


def test_toml_file(config_file):
    config_file.write_text(
        "chunk_tokens = 128\n"
        "chunk_overlap_tokens = 16\n"
        "default_collection = 'manuals'\n"
        "qdrant_url = 'https://qdrant.example.org:6333'\n"
    )
    settings = Settings()
    assert settings.chunk_tokens == 128
    assert settings.chunk_overlap_tokens == 16
    assert settings.default_collection == "manuals"
    assert settings.qdrant_url == "https://qdrant.example.org:6333"
    assert settings.embed_batch_size == 64  # untouched fields keep their defaults


def test_environment_beats_toml(config_file, monkeypatch):
    config_file.write_text("chunk_tokens = 128\ndefault_collection = 'from-toml'\n")
    monkeypatch.setenv("VERIRAG_CHUNK_TOKENS", "512")
    settings = Settings()
    assert settings.chunk_tokens == 512
    assert settings.default_collection == "from-toml"


def test_init_arguments_beat_environment_and_toml(config_file, monkeypatch):
    config_file.write_text("chunk_tokens = 128\n")
    monkeypatch.setenv("VERIRAG_CHUNK_TOKENS", "512")
    assert Settings(chunk_tokens=300).chunk_tokens == 300


def test_unknown_toml_key_is_an_error(config_file):
    config_file.write_text("chunk_token = 128\n")  # typo
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert "chunk_token" in _field_errors(raised.value)


@pytest.mark.parametrize("url", ["localhost:6333", "qdrant:6333", "ftp://qdrant:6333"])
def test_qdrant_url_without_http_scheme_is_an_error(config_file, monkeypatch, url):
    monkeypatch.setenv("VERIRAG_QDRANT_URL", url)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert _field_errors(raised.value) == {"qdrant_url"}
    assert "http://" in str(raised.value) and url in str(raised.value)


def test_empty_qdrant_url_means_embedded(config_file, monkeypatch):
    monkeypatch.setenv("VERIRAG_QDRANT_URL", "")
    assert Settings().qdrant_url is None


@pytest.mark.parametrize(
    ("environment", "toml"),
    [
        ({"VERIRAG_CHUNK_TOKENS": "100", "VERIRAG_CHUNK_OVERLAP_TOKENS": "100"}, ""),
        ({"VERIRAG_CHUNK_OVERLAP_TOKENS": "300"}, ""),
        ({}, "chunk_tokens = 64\nchunk_overlap_tokens = 80\n"),
    ],
    ids=["equal", "env-above-default", "toml"],
)
def test_overlap_must_be_below_chunk_size(config_file, monkeypatch, environment, toml):
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    if toml:
        config_file.write_text(toml)
    with pytest.raises(ValidationError) as raised:
        Settings()
    message = str(raised.value)
    assert "chunk_overlap_tokens" in message and "chunk_tokens" in message


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("VERIRAG_CHUNK_TOKENS", "10", "chunk_tokens"),
        ("VERIRAG_CHUNK_TOKENS", "many", "chunk_tokens"),
        ("VERIRAG_EMBED_BATCH_SIZE", "0", "embed_batch_size"),
        ("VERIRAG_QDRANT_TIMEOUT_S", "0", "qdrant_timeout_s"),
        ("VERIRAG_MAX_FILE_MB", "-1", "max_file_mb"),
    ],
)
def test_bad_values_name_their_field(config_file, monkeypatch, variable, value, field):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert field in _field_errors(raised.value)


def test_with_overrides_ignores_none(config_file):
    settings = Settings()
    assert settings.with_overrides(chunk_tokens=None, qdrant_url=None) is settings
    assert settings.with_overrides() is settings


def test_with_overrides_applies_given_values_on_top(config_file, monkeypatch, tmp_path):
    config_file.write_text("chunk_tokens = 128\n")
    monkeypatch.setenv("VERIRAG_DEFAULT_COLLECTION", "from-env")
    monkeypatch.setenv("VERIRAG_QDRANT_API_KEY", "s3cret")
    settings = Settings()
    changed = settings.with_overrides(
        chunk_tokens=None, default_collection="from-cli", data_dir=tmp_path / "cli", embed_device=None
    )
    assert changed is not settings
    assert changed.default_collection == "from-cli"
    assert changed.data_dir == tmp_path / "cli"
    assert changed.chunk_tokens == 128  # None left the toml value alone
    assert changed.embed_device == "cpu"
    assert changed.qdrant_api_key is not None and changed.qdrant_api_key.get_secret_value() == "s3cret"
    assert settings.default_collection == "from-env"  # the original is not modified


def test_with_overrides_validates(config_file):
    settings = Settings()
    with pytest.raises(ValidationError) as raised:
        settings.with_overrides(qdrant_url="localhost:6333")
    assert "qdrant_url" in _field_errors(raised.value)
    with pytest.raises(ValidationError):
        settings.with_overrides(chunk_overlap_tokens=256)  # == chunk_tokens
    with pytest.raises(ValidationError) as raised:
        settings.with_overrides(no_such_flag=1)
    assert "no_such_flag" in _field_errors(raised.value)
