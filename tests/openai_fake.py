"""A loopback OpenAI-compatible server for tests: scripted replies, faults, refusals, streaming.

It stands in for what cannot run here (a paid API) and for faults a real server
will not produce on demand (429, 5xx, refused response formats).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

ALL_FORMATS = ("json_schema", "json_object", "text")
# What llama-cpp-python's server answers (HTTP 500) to a json_schema response format.
LLAMA_CPP_REFUSAL = (500, "response_format.type: Input should be 'text' or 'json_object'")
# What a server that takes no response format at all answers.
TEXT_ONLY_REFUSAL = (400, "Unrecognized request argument supplied: response_format")


class FakeOpenAI:
    """Serves /v1/chat/completions from a script of (status, reply text) and records requests.

    A request whose `response_format` type is not in `accepts` gets `refusal` and does not
    use up the script; `stream: true` requests get the reply as server-sent events.
    """

    def __init__(
        self,
        script: list[tuple[int, str]],
        *,
        accepts: tuple[str, ...] = ALL_FORMATS,
        refusal: tuple[int, str] = LLAMA_CPP_REFUSAL,
        chunk_delay_s: float = 0.0,
    ) -> None:
        self.script = list(script)
        self.accepts = accepts
        self.refusal = refusal
        self.chunk_delay_s = chunk_delay_s
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append(body)
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                    kind = (body.get("response_format") or {"type": "text"}).get("type")
                    if kind not in fake.accepts:
                        status, text = fake.refusal
                        self._send_json(status, {"error": {"message": text, "type": "error"}})
                        return
                    status, text = fake.script.pop(0) if len(fake.script) > 1 else fake.script[0]
                if status == 200 and body.get("stream"):
                    self._stream(body, text)
                    return
                if status == 400:
                    payload: dict[str, Any] = {
                        "error": {
                            "message": "This model's maximum context length is 10 tokens.",
                            "type": "invalid_request_error",
                            "code": "context_length_exceeded",
                        }
                    }
                elif status != 200:
                    payload = {"error": {"message": f"scripted {status}", "type": "server_error"}}
                else:
                    payload = completion(body["model"], text)
                self._send_json(status, payload)

            def _send_json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], text: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                usage = bool((body.get("stream_options") or {}).get("include_usage"))
                for piece in chunks(body["model"], text, usage=usage):
                    self.wfile.write(f"data: {json.dumps(piece)}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(fake.chunk_delay_s)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def formats(self) -> list[str]:
        """The `response_format` type of every request so far (`text` when none was sent)."""
        return [(r.get("response_format") or {"type": "text"})["type"] for r in self.requests]


def completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


def chunks(
    model: str, text: str, size: int = 4, *, usage: bool = False
) -> Iterator[dict[str, Any]]:
    """`text` as chat-completion chunks of `size` characters, then the finish chunk (and,
    when asked for with `stream_options`, the usage chunk, as OpenAI sends it)."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [choice],
        }

    yield chunk({"role": "assistant", "content": ""})
    for start in range(0, len(text), size):
        yield chunk({"content": text[start : start + size]})
    yield chunk({}, "stop")
    if usage:
        yield {**chunk({}), "choices": [], "usage": completion(model, text)["usage"]}


@pytest.fixture
def serve() -> Iterator[Any]:
    """Starts fake servers (`serve(script, accepts=..., refusal=...)`); stops them after."""
    servers: list[FakeOpenAI] = []

    def start(script: list[tuple[int, str]], **options: Any) -> FakeOpenAI:
        fake = FakeOpenAI(script, **options)
        fake.thread.start()
        servers.append(fake)
        return fake

    yield start
    for fake in servers:
        fake.server.shutdown()
