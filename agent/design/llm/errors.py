"""What provider errors mean for RewardSmith, and keeping credentials out of every text we write.

:func:`classify` splits litellm's exceptions (subclasses of the openai SDK's) into transient ones,
which :class:`agent.design.llm.client.LLMClient` retries, and permanent ones, which :func:`fatal_message` words as
one line naming the model and what to check. :func:`redact` scrubs credential values from any text.
"""

from __future__ import annotations

import email.utils
import os
import re
import time
from typing import Literal

_SECRET_NAME = re.compile(r"(API_KEY|_KEY|TOKEN|SECRET|PASSWORD)$|^(AZURE|AWS)_.*(KEY|TOKEN)", re.IGNORECASE)


# -- secrets ----------------------------------------------------------------------------------------
def secret_values(env: dict[str, str] | None = None) -> list[str]:
    """Values of environment variables that look like credentials (long enough to be one)."""
    env = dict(os.environ) if env is None else env
    return sorted({v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= 8}, key=len, reverse=True)


# A bearer token as RFC 6750 spells it (token68), on the same line as "Bearer", not ending in a sentence's
# full stop. Only the token itself is replaced: the quote, comma or newline after it, and ordinary prose
# ("Bearer authentication", "Bearer <YOUR_KEY>") stay as they were.
_BEARER = re.compile(r"(?<![A-Za-z])(Bearer[ \t]+)([A-Za-z0-9._~+/-]*[A-Za-z0-9_~+/-]=*)")
_MIN_TOKEN = 8
_LONG_TOKEN = 24
"""A token shorter than this is redacted only if it holds a digit (words are not keys)."""


def _bearer(match: re.Match[str]) -> str:
    token = match.group(2)
    looks_like_key = len(token) >= _LONG_TOKEN or (len(token) >= _MIN_TOKEN and any(c.isdigit() for c in token))
    return match.group(1) + "***" if looks_like_key else match.group(0)


def redact(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every credential value (and anything shaped like a bearer key) replaced by ``***``."""
    for value in secret_values() if secrets is None else secrets:
        text = text.replace(value, "***")
    return _BEARER.sub(_bearer, text)


# -- error classes ----------------------------------------------------------------------------------
def classify(exc: BaseException) -> Literal["transient", "fatal"] | None:
    """``transient`` (retry), ``fatal`` (stop), or None when ``exc`` is not a provider/API error at all."""
    import openai  # a litellm dependency; its error classes are the bases of litellm's

    if connection_refused(exc):
        return "fatal"  # nothing listens there: retrying will not start the server (litellm calls it a 500)
    if isinstance(exc, openai.APIConnectionError | openai.APIResponseValidationError):
        return "transient"  # timeouts (a subclass), dropped connections, bodies that do not parse
    status = getattr(exc, "status_code", None)
    if isinstance(exc, openai.APIError) and isinstance(status, int):
        return "transient" if status in (408, 409, 425, 429) or status >= 500 else "fatal"
    if isinstance(exc, openai.APIError):
        return "transient"
    return None


def retry_after_s(exc: BaseException, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``/``retry-after-ms``), or None if it did not say."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def connection_refused(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a refused TCP connection (nothing listens at the address).

    litellm re-raises the openai SDK's ``APIConnectionError`` as ``InternalServerError`` with status
    500, as if the server had answered; the refusal itself is further down the exception chain.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ConnectionRefusedError) or "Connection refused" in str(e):
            return True
        todo += [e.__cause__, e.__context__]
    return False


def provider_message(exc: BaseException) -> str:
    text = " ".join(str(getattr(exc, "message", None) or exc).split())
    text = re.sub(r"^(litellm\.\w+:\s*)+(\w+Error:\s*)?", "", text)
    text = re.sub(r"^\w*Exception - ", "", text)
    return text[:200] + ("…" if len(text) > 200 else "")


def fatal_message(model: str, exc: BaseException, api_base: str | None) -> str:
    """One line: the model, what went wrong, what to check."""
    status = getattr(exc, "status_code", None)
    detail = provider_message(exc)
    where = f" at {api_base}" if api_base else ""
    name = type(exc).__name__
    if connection_refused(exc):
        return (f"designer {model}: connection refused{where or ' by the provider'}: nothing is listening there; "
                "start the server (or check --api-base and its port)")
    if status == 401 or name == "AuthenticationError":
        hint = "check the API key in the provider's environment variable (e.g. OPENAI_API_KEY, ANTHROPIC_API_KEY)"
        return f"designer {model}: the provider{where} refused the credentials (401: {detail}); {hint}"
    if status == 403:
        return f"designer {model}: access denied{where} (403: {detail}); check that the key may use this model"
    if status == 404:
        return (f"designer {model}: model not found{where} (404: {detail}); check the model name"
                + (" and that the server serves it" if api_base else ""))
    if status == 402:
        return f"designer {model}: payment required (402: {detail}); check the account's billing"
    if "LLM Provider NOT provided" in detail or name == "LiteLLMUnknownProvider":
        return (f"designer {model!r}: litellm cannot tell the provider; give a litellm model string such as "
                "'openai/gpt-4o-mini', 'anthropic/claude-sonnet-4-5' or 'ollama/llama3', or 'offline'")
    if name == "ContextWindowExceededError":
        return f"designer {model}: the prompt is longer than the model's context window ({detail}); use a longer-context model"
    return f"designer {model}: the provider rejected the request ({status or name}: {detail}); check the model and its options"


def n_rejected(exc: BaseException) -> bool:
    return getattr(exc, "status_code", None) in (400, 422) or type(exc).__name__ == "UnsupportedParamsError"
