"""The LLM client: any provider through litellm, with RewardSmith's own retries, sampling and accounting.

What the LLM backend note measured decides how litellm is called here:

- litellm is imported lazily (3-5 s, 3000 modules) and only by a designer that makes a call, with
  ``LITELLM_OFFLINE_MODE`` set first so it never fetches price maps or tokenizers on its own; its
  debug output is switched off.
- Every call passes ``timeout=`` (litellm's default is 6000 s) and ``num_retries=0, max_retries=0``.
  That timeout bounds each socket read, not the call (a server trickling a byte every 4 s held a call
  600 s with a 10 s timeout), so each attempt also runs in a worker thread under a whole-call deadline
  of the same length; past it the attempt counts as a timeout. Retries belong to :class:`LLMClient` —
  only transient errors (429, 5xx, timeouts, dropped connections, unparsable bodies), exponential
  backoff with jitter and a cap, ``Retry-After`` honoured. Errors that won't heal (credentials,
  unknown model, bad request) raise :class:`DesignerError` at once with one line naming the model
  and what to check.
- ``n`` is asked for where litellm says the provider takes it, and the choices that came back are
  always counted: many servers ignore or reject ``n``, so single calls (bounded concurrency) top up.
- Every answer is stored (:mod:`agent.design.llm.responses`) before it is used; a stored answer is never paid twice.
  What is kept is capped: at most ``n`` choices, each text at most :data:`MAX_ANSWER_BYTES` (a server
  once sent 64 choices of 512 KB per call), so a huge answer is neither stored whole nor sent back
  in a fix prompt.
- API keys stay in the provider's environment variables; any key value is scrubbed from every error
  message and every stored text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from rewardsmith.agent.design.llm.errors import (
    classify,
    fatal_message,
    n_rejected,
    provider_message,
    redact,
    retry_after_s,
)
from rewardsmith.agent.design.llm.responses import CallRequest, ResponseStore, StoredCall
from rewardsmith.agent.design.prompting import Message
from rewardsmith.agent.records.config import LLMOptions
from rewardsmith.agent.records.results import Usage
from rewardsmith.core.errors import BudgetExhausted, DesignerError

MAX_ANSWER_BYTES = 64 * 1024
"""Longest text kept of one choice (UTF-8 bytes); the rest is cut, and the cut is marked in the text."""
RAW_BYTES_PER_CHOICE = 2 * MAX_ANSWER_BYTES
"""Largest raw response body kept for audit, per choice asked for (after capping each of its strings to
:data:`MAX_ANSWER_BYTES`: content and a reasoning text fit); beyond it only a note is kept."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call is retried on transient errors."""

    max_attempts: int = 4
    """HTTP attempts per call, the first included."""
    backoff_s: float = 1.0
    """Wait before the 2nd attempt; doubles per attempt, times a random factor in [0.5, 1] (jitter)."""
    backoff_cap_s: float = 30.0
    """Longest wait between attempts; a ``Retry-After`` longer than this gives the call up instead."""
    concurrency: int = 4
    """Calls in flight at once when topping up samples."""


@dataclass(frozen=True)
class Reply:
    """One choice of one call, with its share of the call's usage."""

    text: str
    finish_reason: str | None
    usage: Usage
    call: str
    """Key of the stored call it came from (``responses/<key>.json``)."""
    path: Literal["n", "single"]
    """Whether it came from a call asking for several choices (``n``) or from a single call."""


class CallFailed(Exception):
    """A call failed on transient errors until its retries ran out; ``message`` is one line, scrubbed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DeadlineExceeded(Exception):
    """An attempt ran past its whole-call deadline (the socket may still be trickling bytes)."""


class _Rejected(Exception):
    """The provider rejected the request for good; the caller decides how to word it (or to retry without n)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


# -- litellm, imported once and offline-safe ----------------------------------------------------
@cache
def import_litellm() -> ModuleType:
    """Import and configure litellm (seconds; done once per process, only when a call is made)."""
    # litellm reads these switches from the environment, at import and again at call time, and has no
    # other way to set them: without them it fetches its price map from GitHub at import and Hugging Face
    # tokenizers during calls (a 24 s stall behind a firewall). They only affect litellm's own fetches.
    os.environ["LITELLM_OFFLINE_MODE"] = "true"
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import logging

    try:
        import litellm
    except ImportError:
        raise DesignerError("an LLM designer needs litellm, which is not installed: "
                            "pip install -c constraints.txt litellm openai") from None

    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on stdout
    litellm.disable_hf_tokenizer_download = True
    litellm.telemetry = False
    logging.getLogger("LiteLLM").setLevel(logging.CRITICAL)
    return litellm


# -- the client -------------------------------------------------------------------------------------
@dataclass
class LLMClient:
    """Calls one model; every answer goes through (and comes back from) the response store."""

    model: str
    options: LLMOptions = field(default_factory=LLMOptions)
    store: ResponseStore | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    offline: bool = False
    """Replay only: a request that is not in the store is an error, never a call."""
    cost_with: tuple[ResponseStore, ...] = ()
    """The run's other response stores, whose cost counts against the same ``--max-cost`` (designer and critic)."""
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    n_supported: bool | None = None
    """Whether asking for ``n`` choices works; None until known."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _checked: bool = False

    # -- sampling --------------------------------------------------------------------------------
    def sample(self, messages: tuple[Message, ...], k: int, salt: str) -> list[Reply]:
        """``k`` choices for ``messages``: one call with ``n=k`` where it works, then single calls to top up.

        Returns fewer than ``k`` when calls kept failing; raises :class:`CallFailed` (one line) when none
        succeeded. After a failed call only one more is tried before giving up (a dead server stays dead).
        """
        replies: list[Reply] = []
        failures: list[str] = []
        if k > 1:
            try:
                replies += self._sample_n(messages, k, salt)
            except CallFailed as failed:
                failures.append(failed.message)
        single = 0
        for _batch in range(3):
            missing = k - len(replies)
            if missing <= 0:
                break
            size = 1 if failures and not replies else missing
            requests = [self._request(messages, 1, f"{salt}/single{single + i}") for i in range(size)]
            single += size
            got, errors = self._call_all(requests)
            failures += errors
            for call in got:
                replies += self._replies(call, "single")
            if not any(call.texts for call in got):
                break  # every call of the batch failed or came back empty: more of the same would too
        if not replies:
            raise CallFailed(failures[-1] if failures else f"designer {self.model}: the provider answered with no choices")
        return replies[:k]

    def _sample_n(self, messages: tuple[Message, ...], k: int, salt: str) -> list[Reply]:
        """The ``n=k`` call, when it is stored or the provider takes ``n``; [] otherwise."""
        request = self._request(messages, k, f"{salt}/n{k}")
        stored = self.store.get(request) if self.store is not None else None
        if stored is None and (self.offline or not self._wants_n()):
            return []
        try:
            return self._replies(stored or self.call(request), "n")
        except _Rejected as rejected:
            if not n_rejected(rejected.error):
                raise DesignerError(self._fatal(rejected.error)) from None
            self.n_supported = False  # e.g. llama.cpp: "Field 'n': Value must be between 1 <= value <= 1"
            return []

    def complete(self, messages: tuple[Message, ...], salt: str) -> Reply | None:
        """One choice for ``messages`` (a fix request); None when the provider returned no choice."""
        try:
            call = self.call(self._request(messages, 1, salt))
        except _Rejected as rejected:
            raise DesignerError(self._fatal(rejected.error)) from None
        replies = self._replies(call, "single")
        return replies[0] if replies else None

    # -- one call ------------------------------------------------------------------------------
    def call(self, request: CallRequest) -> StoredCall:
        """The stored answer to ``request``, or a new call (within the budget) with bounded retries."""
        if self.store is not None and (stored := self.store.get(request)) is not None:
            return stored
        if self.offline:
            raise DesignerError(f"replay: no recorded response for this request ({request.salt}, key {request.key}); "
                                "the run has diverged from the one it replays")
        self._check_budget(1)
        self._check_once()
        return self._call_with_retries(request)

    def _call_with_retries(self, request: CallRequest) -> StoredCall:
        litellm = import_litellm()
        kwargs = self._kwargs(request)
        for attempt in range(1, self.retry.max_attempts + 1):
            started = time.monotonic()
            try:
                response = _within(self.options.timeout_s, litellm.completion, kwargs)
            except Exception as exc:
                kind = "transient" if isinstance(exc, DeadlineExceeded) else classify(exc)
                if kind is None:
                    raise
                if kind == "fatal":
                    raise _Rejected(exc) from None
                wait, why = self._wait(attempt, exc)
                if attempt == self.retry.max_attempts or wait is None:
                    status = getattr(exc, "status_code", None)
                    name = "Timeout" if isinstance(exc, DeadlineExceeded) else type(exc).__name__
                    detail = f"{name}{f' ({status})' if status else ''}: {provider_message(exc)}"
                    raise CallFailed(redact(f"designer {self.model}: {detail} (gave up after {attempt} "
                                            f"attempt{'s' if attempt > 1 else ''}{why})")) from None
                self.sleep(wait)
                continue
            return self._record(request, response, time.monotonic() - started)
        raise AssertionError("unreachable: the loop returns or raises")

    def _wait(self, attempt: int, exc: BaseException) -> tuple[float | None, str]:
        asked = retry_after_s(exc)
        if asked is not None:
            if asked > self.retry.backoff_cap_s:
                return None, f"; the server asked to wait {asked:.0f} s, more than the {self.retry.backoff_cap_s:.0f} s cap"
            return asked, ""
        base = min(self.retry.backoff_cap_s, self.retry.backoff_s * 2 ** (attempt - 1))
        return base * (0.5 + 0.5 * self.rng.random()), ""

    def _kwargs(self, request: CallRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model, "messages": [{"role": m.role, "content": message_content(m)} for m in request.messages],
            "temperature": request.temperature, "timeout": self.options.timeout_s,
            "num_retries": 0, "max_retries": 0,  # retries are ours (see the module docstring)
        }
        if request.n > 1:
            kwargs["n"] = request.n
        if request.max_tokens is not None:
            kwargs["max_tokens"] = request.max_tokens
        if self.options.api_base:
            kwargs["api_base"] = self.options.api_base
            if not self._keys_in_environment():
                kwargs["api_key"] = "none"  # local servers need no key, but the openai SDK insists on one
        if self.options.price_in is not None and self.options.price_out is not None:
            kwargs["input_cost_per_token"] = self.options.price_in / 1e6
            kwargs["output_cost_per_token"] = self.options.price_out / 1e6
        return kwargs

    def _record(self, request: CallRequest, response: Any, latency_s: float) -> StoredCall:
        texts, reasons = [], []
        for choice in list(response.choices)[:request.n]:  # a server may send more than asked for: not kept
            message = choice.message
            text = message.content or getattr(message, "refusal", None) or ""
            texts.append(cap_text(redact(str(text))))
            reasons.append(choice.finish_reason)
        usage = getattr(response, "usage", None)
        tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
        call = StoredCall(
            key=request.key, request=request, texts=tuple(texts), finish_reasons=tuple(reasons),
            usage=Usage(tokens_in=tokens_in, tokens_out=tokens_out, cost=self._cost(response, tokens_in, tokens_out), latency_s=round(latency_s, 3), calls=1),
            created=datetime.now(UTC).isoformat(timespec="seconds"), raw=_raw(response, request.n),
        )
        if self.store is not None:
            self.store.put(call)
        return call

    def _cost(self, response: Any, tokens_in: int, tokens_out: int) -> float | None:
        """The user's prices if given, else litellm's price map; None (never a guess) when neither knows."""
        if self.options.price_in is not None and self.options.price_out is not None:
            return (tokens_in * self.options.price_in + tokens_out * self.options.price_out) / 1e6
        cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
        return float(cost) if isinstance(cost, int | float) else None

    # -- helpers ---------------------------------------------------------------------------------
    def _request(self, messages: tuple[Message, ...], n: int, salt: str) -> CallRequest:
        return CallRequest(self.model, messages, n, self.options.temperature, self.options.response_tokens, salt)

    def _replies(self, call: StoredCall, path: Literal["n", "single"]) -> list[Reply]:
        shares = _split(call.usage, len(call.texts))
        return [Reply(text, reason, share, call.key, path)
                for text, reason, share in zip(call.texts, call.finish_reasons, shares, strict=True)]

    def _call_all(self, requests: list[CallRequest]) -> tuple[list[StoredCall], list[str]]:
        """Make ``requests`` (stored ones first, without a call), at most ``concurrency`` at once."""
        got: dict[int, StoredCall] = {}
        todo = []
        for i, request in enumerate(requests):
            stored = self.store.get(request) if self.store is not None else None
            if stored is not None:
                got[i] = stored
            else:
                todo.append((i, request))
        errors: list[str] = []
        if todo:
            self._check_budget(len(todo))
            with ThreadPoolExecutor(max_workers=max(1, min(self.retry.concurrency, len(todo)))) as pool:
                futures = [(i, pool.submit(self.call, request)) for i, request in todo]
                for i, future in futures:
                    try:
                        got[i] = future.result()
                    except CallFailed as failed:
                        errors.append(failed.message)
                    except _Rejected as rejected:
                        raise DesignerError(self._fatal(rejected.error)) from None
        return [got[i] for i in sorted(got)], errors

    def _wants_n(self) -> bool:
        if self.n_supported is None:
            litellm = import_litellm()
            try:
                _, provider, _, _ = litellm.get_llm_provider(self.model)
                params = litellm.get_supported_openai_params(model=self.model, custom_llm_provider=provider) or []
            except Exception as exc:
                if classify(exc) is None and type(exc).__name__ != "BadRequestError":
                    raise
                raise DesignerError(self._fatal(exc)) from None
            self.n_supported = "n" in params
        return self.n_supported

    def _check_once(self) -> None:
        """Before the first real call: the model string routes, and a cost cap has a price to count with."""
        with self._lock:
            if self._checked:
                return
            self._checked = True
        self._wants_n()
        if not self.options.api_base:
            missing = self._missing_keys()
            if missing and all(name.endswith("_API_KEY") for name in missing):  # not AWS profiles, Vertex ADC…
                raise DesignerError(f"designer {self.model}: no API key; set {' or '.join(missing)} in the environment "
                                    "(or give --api-base for a local OpenAI-compatible server)")
        if self.options.max_cost is not None and self.options.price_in is None:
            litellm = import_litellm()
            try:
                litellm.get_model_info(self.model)
            except Exception:
                raise DesignerError(f"--max-cost: litellm has no price for {self.model}; give its prices with "
                                    "--price-in and --price-out (USD per million tokens)") from None

    def _check_budget(self, calls: int) -> None:
        """Refuse ``calls`` more calls when what was spent plus their expected cost would pass a cap."""
        if self.store is None or (self.options.max_cost is None and self.options.max_tokens is None):
            return
        spent = self.store.total()
        per_call_tokens = spent.tokens / spent.calls if spent.calls else 0.0
        if self.options.max_tokens is not None and spent.tokens + calls * per_call_tokens > self.options.max_tokens:
            raise BudgetExhausted(f"token cap reached: {spent.tokens:,} tokens used of --max-tokens "
                                  f"{self.options.max_tokens:,}, and the next call would pass it")
        if self.options.max_cost is not None:
            own = spent.cost or 0.0
            per_call_cost = own / spent.calls if spent.calls else 0.0
            cost = own + sum(other.total().cost or 0.0 for other in self.cost_with)
            if cost + calls * per_call_cost > self.options.max_cost:
                raise BudgetExhausted(f"cost cap reached: ${cost:.4f} spent of --max-cost ${self.options.max_cost:g}"
                                      f"{' (designer and critic together)' if self.cost_with else ''}, "
                                      "and the next call would pass it")

    def _keys_in_environment(self) -> bool:
        try:
            return bool(import_litellm().validate_environment(self.model).get("keys_in_environment"))
        except Exception:
            return False

    def _missing_keys(self) -> list[str]:
        """The environment variables litellm wants for this provider and does not find (credentials' names only)."""
        try:
            missing = import_litellm().validate_environment(self.model).get("missing_keys") or []
        except Exception:
            return []
        return [str(name) for name in missing]

    def _fatal(self, exc: BaseException) -> str:
        return redact(fatal_message(self.model, exc, self.options.api_base))


def _split(usage: Usage, n: int) -> list[Usage]:
    """Share one call's usage among its ``n`` choices (tokens as evenly as integers allow)."""
    if n <= 1:
        return [usage] * n
    tin, rin = divmod(usage.tokens_in, n)
    tout, rout = divmod(usage.tokens_out, n)
    cost = usage.cost / n if usage.cost is not None else None
    return [Usage(tokens_in=tin + (i < rin), tokens_out=tout + (i < rout), cost=cost, latency_s=usage.latency_s, calls=1) for i in range(n)]


def _within(deadline_s: float, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """``fn(**kwargs)`` in a worker thread; :class:`DeadlineExceeded` if it has not returned within ``deadline_s``.

    The worker is a daemon thread: an abandoned call cannot be interrupted from outside (its own read
    timeout ends it once the server stops sending), and it must not keep the process alive.
    """
    box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

    def work() -> None:
        try:
            box.put((True, fn(**kwargs)))
        except BaseException as exc:  # handed to the caller's thread, which decides
            box.put((False, exc))

    threading.Thread(target=work, name="llm-call", daemon=True).start()
    try:
        ok, value = box.get(timeout=deadline_s)
    except queue.Empty:
        raise DeadlineExceeded(f"no complete answer within the {deadline_s:g} s deadline of the whole call") from None
    if not ok:
        raise value
    return value


def message_content(message: Message) -> str | list[dict[str, Any]]:
    """A message as the provider takes it: its text, or with images the OpenAI ``content`` parts (text, then one
    ``image_url`` with a base64 data URL per image, read from the run's file and checked against its hash)."""
    if not message.images:
        return message.content
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    for image in message.images:
        try:
            data = Path(image.file).read_bytes()
        except OSError as exc:
            raise DesignerError(f"image {image.file} cannot be read for the call ({exc.strerror})") from None
        if hashlib.sha256(data).hexdigest() != image.sha256:
            raise DesignerError(f"image {image.file} changed after its request was made (sha256 differs)")
        url = f"data:{image.media_type};base64,{base64.b64encode(data).decode('ascii')}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


def cap_text(text: str, limit: int = MAX_ANSWER_BYTES) -> str:
    """``text`` cut to ``limit`` UTF-8 bytes (at a character boundary), with a note saying it was cut."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    kept = data[:limit].decode("utf-8", "ignore")
    return kept + f"\n[RewardSmith cut this answer here: {len(data):,} bytes, more than the {limit:,}-byte limit]"


def _capped(value: Any) -> Any:
    if isinstance(value, str):
        return cap_text(value)
    if isinstance(value, list):
        return [_capped(v) for v in value]
    if isinstance(value, dict):
        return {k: _capped(v) for k, v in value.items()}
    return value


def _raw(response: Any, n: int) -> dict[str, Any]:
    """The response body as a JSON object, credentials scrubbed, at most ``n`` choices, every string capped."""
    try:
        data = response.model_dump()
        if isinstance(data.get("choices"), list):
            data["choices"] = data["choices"][:n]
        text = redact(json.dumps(_capped(data), default=str, ensure_ascii=False))
    except (AttributeError, TypeError, ValueError):
        return {}
    size, limit = len(text.encode("utf-8", "surrogatepass")), n * RAW_BYTES_PER_CHOICE + MAX_ANSWER_BYTES
    if size > limit:
        return {"omitted": f"response body of {size:,} bytes after capping its texts, more than the {limit:,}-byte limit"}
    data = json.loads(text)
    return data if isinstance(data, dict) else {}
