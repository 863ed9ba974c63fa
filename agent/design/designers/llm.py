"""The LLM designer: any model litellm can reach writes the candidates, and fixes the rejected ones.

``--designer openai/gpt-4o-mini`` (or ``anthropic/…``, ``ollama/…``, ``openai/<name>`` with
``--api-base`` for a local OpenAI-compatible server) makes one. ``--designer replay:RUN_DIR`` replays
the answers recorded in another run's response store and never calls a model: a request that run
did not make is an error, not an invented answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rewardsmith.agent.design.designers.base import DesignRequest
from rewardsmith.agent.design.llm.client import CallFailed, LLMClient, Reply, RetryPolicy
from rewardsmith.agent.design.llm.responses import ResponseStore
from rewardsmith.agent.design.prompting import Message
from rewardsmith.agent.records.config import LLMOptions, RunRecord
from rewardsmith.agent.records.results import Completion
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.core.errors import DesignerError, DesignerUnavailable, RunStoreError


@dataclass
class LLMDesigner:
    """Samples K candidates per round from one model; fixes a rejected one on request."""

    client: LLMClient
    label: str

    @classmethod
    def create(cls, model: str, options: LLMOptions, run_dir: Path | None,
               retry: RetryPolicy | None = None) -> LLMDesigner:
        """A designer for ``model``; its answers are kept in ``run_dir/responses`` (none kept without a run)."""
        if not model.strip() or any(c.isspace() for c in model):
            raise DesignerError(f"designer {model!r}: a litellm model string has no spaces, e.g. 'openai/gpt-4o-mini'")
        if options.api_base and "@" in options.api_base.split("//", 1)[-1].split("/", 1)[0]:
            raise DesignerError("--api-base must not carry credentials; put the key in the provider's environment "
                                "variable (e.g. OPENAI_API_KEY)")
        store = ResponseStore.for_run(run_dir) if run_dir is not None else None
        critic = (ResponseStore.critic_for_run(run_dir),) if run_dir is not None else ()  # one --max-cost for both
        client = LLMClient(model, options, store, retry or RetryPolicy(), cost_with=critic)
        where = f" at {options.api_base}" if options.api_base else ""
        return cls(client, f"LLM {model}{where} (through litellm)")

    @classmethod
    def replay(cls, source: Path, run_dir: Path | None) -> LLMDesigner:
        """Answers recorded in the run at ``source``, copied into this run's own store as they are used."""
        record = _record(source)
        origin = record
        for _ in range(10):  # a replay of a replay: its store holds the first run's answers, keyed by its model
            if not origin.config.designer.startswith("replay:"):
                break
            origin = _record(Path(origin.config.designer.split(":", 1)[1]))
        model = origin.config.designer
        recorded = ResponseStore.for_run(source)
        store = ResponseStore.for_run(run_dir) if run_dir is not None else None
        if store is not None and store.root != recorded.root:
            store.fallback = recorded
        client = LLMClient(model, record.config.llm, store or recorded, offline=True)
        return cls(client, f"replayed from {source} (answers of {model}; no LLM calls)")

    def propose(self, request: DesignRequest) -> list[Completion]:
        try:
            replies = self.client.sample(request.messages, request.k, salt=f"round {request.round}/sample")
        except CallFailed as failed:
            raise DesignerUnavailable(f"round {request.round}: every call to the model failed; last error: "
                                      f"{failed.message}") from None
        return [self._completion(r) for r in replies]

    def fix(self, request: DesignRequest, index: int, attempt: int, messages: tuple[Message, ...]) -> Completion | None:
        try:
            reply = self.client.complete(messages, salt=f"round {request.round}/cand {index}/attempt {attempt}")
        except CallFailed:
            return None  # the candidate stays rejected; the round goes on with the others
        return self._completion(reply) if reply is not None else None

    def _completion(self, reply: Reply) -> Completion:
        meta: dict[str, str | int | float] = {"call": reply.call, "path": reply.path}
        if reply.finish_reason:
            meta["finish_reason"] = reply.finish_reason
        return Completion(text=reply.text, designer=self.client.model, parent=None, meta=meta, usage=reply.usage)


def _record(run_dir: Path) -> RunRecord:
    try:
        return RunStore(run_dir).load_record()
    except RunStoreError as err:
        raise DesignerError(f"replay: {err}") from None
