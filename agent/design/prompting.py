"""Prompt construction: every text comes from a jinja2 template in ``prompts/``, rendered strictly.

One render function (``StrictUndefined``: a missing variable is an error, never an empty string).
A round's prompt is a list of chat messages: system rules, the task with its state description,
and from round 2 on the best previous reward and its critique (Eureka keeps only the last round).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import jinja2

from rewardsmith import prompts
from rewardsmith.agent.goal.subtasks import task_subtasks
from rewardsmith.agent.goal.task_goal import fitness_doc, task_goal
from rewardsmith.envs.tasks import Task

TEMPLATE_DIR = Path(prompts.__file__).parent


@dataclass(frozen=True)
class ImagePart:
    """An image sent with a message (the critic's frames, issue 25): a file in the run, named by its content's hash.

    The stored request keeps the file and the hash, not the bytes: the hash is part of the request's key (a
    different frame is a different question), and :class:`agent.design.llm.client.LLMClient` reads the file and
    sends it as an OpenAI-style ``image_url`` part with a data URL when it makes the call.
    """

    file: str
    sha256: str
    media_type: str = "image/jpeg"


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str
    images: tuple[ImagePart, ...] = ()
    """Images after the text (a vision model's input); none for the designer's prompts."""


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False,
    )


def render(template: str, **context: Any) -> str:
    """Render ``prompts/<template>`` with ``context``; undefined variables raise."""
    return _environment().get_template(template).render(**context)


def task_context(task: Task) -> dict[str, Any]:
    return {"task": task, "state_description": task.adapter.spec.describe(),
            "fitness_doc": fitness_doc(task.fitness_ref, task.source.parent) or task.fitness_ref,
            "subtasks": task_subtasks(task_goal(task))}


def round_messages(task: Task, previous_best_code: str | None, feedback_text: str | None,
                   backend_rules: tuple[str, ...] = ()) -> list[Message]:
    """The prompt of a round: system rules, the task, and (after round 1) the best code and its critique.

    ``backend_rules``: what the run's training backend adds to the rules (:attr:`agent.train.backends.base.Backend.prompt_rules`: the
    jax backend's tracing forbids in-place writes, …).
    """
    ctx = task_context(task)
    messages = [Message("system", render("system.j2", backend_rules=backend_rules, **ctx)),
                Message("user", render("initial.j2", **ctx))]
    if previous_best_code is not None and feedback_text is not None:
        messages.append(Message("assistant", f"```python\n{previous_best_code.rstrip()}\n```"))
        messages.append(Message("user", feedback_text))
    return messages


def fix_messages(messages: list[Message], response: str, stage: str, problem: str,
                 code: str | None = None) -> list[Message]:
    """Append the failed response and the exact problem, asking for a corrected module.

    ``code`` is the module as it was checked (extraction may have gathered it from several blocks);
    it is shown with line numbers so that the problem's line numbers point at the right lines.
    """
    return [*messages, Message("assistant", response),
            Message("user", render("fix.j2", stage=stage, message=problem, code=code))]


def to_markdown(messages: list[Message]) -> str:
    """The prompt as a person reads it in ``prompt.md``."""
    return "\n".join(f"## {m.role}\n\n{m.content.rstrip()}\n" + "".join(f"\n[image: {i.file}]\n" for i in m.images)
                     for m in messages)

