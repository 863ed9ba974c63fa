"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests (stdlib only).

Tests drive RewardSmith's LLM designer through litellm and the openai SDK against it, so the real
HTTP path is exercised: ``n`` honoured or ignored, error statuses with ``Retry-After``, hangs past
the client's timeout, a body trickled byte by byte, malformed JSON, empty content, refusals. Images arrive as a
provider receives them (OpenAI ``content`` parts with ``image_url`` data URLs: :attr:`Recorded.images`) and cost
:data:`IMAGE_TOKENS` prompt tokens each. Replies are scripted per model name
(the part after litellm's ``openai/`` prefix); every request is recorded, headers included, so a
test can count attempts and check what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer to one request."""

    texts: tuple[str, ...] = ()
    """Choice contents; with ``honour_n`` the server returns ``n`` choices, cycling through these."""
    honour_n: bool = True
    """False: answer one choice whatever ``n`` asks (llama-cpp-python, Ollama's /v1)."""
    choices: int | None = None
    """Answer exactly this many choices whatever ``n`` asks (a misbehaving server sending more)."""
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    """Raw response body, sent as is (e.g. malformed JSON, an error object)."""
    delay_s: float = 0.0
    """Sleep this long before answering (a hang, when longer than the client's timeout)."""
    refusal: str | None = None
    """An OpenAI-style structured refusal: ``content`` null, ``refusal`` set."""
    reject_n: bool = False
    """Answer 400 to any ``n`` > 1, as llama.cpp's server does."""
    trickle_s: float = 0.0
    """Send the headers at once, then the body one byte every ``trickle_s`` seconds (no read ever times out)."""


def ok(*texts: str, honour_n: bool = True) -> Reply:
    return Reply(texts=texts, honour_n=honour_n)


def error(status: int, message: str = "scripted error", retry_after: str | None = None) -> Reply:
    headers = (("Retry-After", retry_after),) if retry_after is not None else ()
    body = json.dumps({"error": {"message": message, "type": "scripted", "code": status}})
    return Reply(status=status, headers=headers, body=body)


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def n(self) -> int:
        return int(self.body.get("n") or 1)

    @property
    def images(self) -> list[str]:
        """The ``image_url`` URLs of every message's content parts, in order (data URLs for inline images)."""
        return [part["image_url"]["url"] for m in self.body.get("messages", []) if isinstance(m.get("content"), list)
                for part in m["content"] if isinstance(part, dict) and part.get("type") == "image_url"]

    @property
    def text(self) -> str:
        """Every message's text, content parts' text included."""
        return "\n".join(_text(m.get("content")) for m in self.body.get("messages", []))


IMAGE_TOKENS = 85
"""Prompt tokens the fake counts per image (OpenAI's price of a low-detail image)."""


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content or "")


def _images(content: Any) -> int:
    return sum(isinstance(p, dict) and p.get("type") == "image_url" for p in content) if isinstance(content, list) else 0


Responder = Callable[[dict[str, Any]], Reply]


@dataclass
class FakeLLM:
    """The server's state: scripts per model, and every request received."""

    scripts: dict[str, list[Reply]] = field(default_factory=dict)
    responders: dict[str, Responder] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        """The ``api_base`` to give litellm."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, model: str, *replies: Reply) -> None:
        """Answer requests for ``model`` with ``replies`` in turn; the last one repeats."""
        self.scripts[model] = list(replies)

    def respond(self, model: str, responder: Responder) -> None:
        """Answer requests for ``model`` with ``responder(request_body)``."""
        self.responders[model] = responder

    def calls(self, model: str) -> list[Recorded]:
        return [r for r in self.requests if r.body.get("model") == model]

    def _next(self, request: Recorded) -> Reply:
        body = request.body
        model = str(body.get("model"))
        with self._lock:
            self.requests.append(request)
            if model in self.responders:
                return self.responders[model](body)
            queue = self.scripts.get(model)
            if not queue:
                return error(404, f"The model `{model}` does not exist.")
            return queue.pop(0) if len(queue) > 1 else queue[0]


def _choices(reply: Reply, n: int) -> list[dict[str, Any]]:
    if reply.refusal is not None:
        return [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": None, "refusal": reply.refusal}}]
    count = reply.choices if reply.choices is not None else n if reply.honour_n else 1
    texts = reply.texts or ("",)
    return [{"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": texts[i % len(texts)]}}
            for i in range(count)]


def _payload(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    choices = _choices(reply, int(body.get("n") or 1))
    messages = body.get("messages", [])
    prompt_tokens = (sum(len(_text(m.get("content"))) for m in messages) // 4 + 1
                     + IMAGE_TOKENS * sum(_images(m.get("content")) for m in messages))
    completion_tokens = sum(len(c["message"]["content"] or "") // 4 + 1 for c in choices)
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model"), "choices": choices,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def _handler(state: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Without this, headers and body leave as two segments and Nagle + delayed ACK add ~44 ms per call.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._send(400, json.dumps({"error": {"message": "request body is not JSON"}}), ())
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}), ())
                return
            reply = state._next(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if reply.delay_s and state._stop.wait(reply.delay_s):
                return
            if reply.reject_n and int(body.get("n") or 1) > 1:
                message = "Field 'n': Value must be between 1 <= value <= 1"
                self._send(400, json.dumps({"error": {"message": message, "type": "invalid_request_error"}}), ())
            elif reply.body is not None:
                self._send(reply.status, reply.body, reply.headers, reply.trickle_s)
            else:
                self._send(reply.status, json.dumps(_payload(body, reply)), reply.headers, reply.trickle_s)

        def _send(self, status: int, text: str, headers: tuple[tuple[str, str], ...], trickle_s: float = 0.0) -> None:
            data = text.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                if not trickle_s:
                    self.wfile.write(data)
                    return
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    if state._stop.wait(trickle_s):
                        return
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout); nothing to answer

    return Handler


@contextmanager
def serve() -> Iterator[FakeLLM]:
    """Run a :class:`FakeLLM` on an ephemeral loopback port for the duration of the block."""
    state = FakeLLM()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    server.block_on_close = False
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state._stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
