"""Images in a request (the critic's frames): sent as OpenAI ``image_url`` parts, keyed by their hashes only."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from rewardsmith.agent.design.llm.client import message_content
from rewardsmith.agent.design.llm.responses import CallRequest
from rewardsmith.agent.design.prompting import ImagePart, Message
from rewardsmith.core.errors import DesignerError


def test_a_request_without_images_keeps_the_key_it_always_had() -> None:
    """Stored designer answers are found by their key: adding images to messages must not change it."""
    messages = (Message("system", "rules"), Message("user", "task"))
    request = CallRequest("openai/x", messages, 2, 1.0, None, "round 1/sample/n2")
    payload = {"model": "openai/x", "messages": [["system", "rules"], ["user", "task"]], "n": 2, "temperature": 1.0,
               "max_tokens": None, "salt": "round 1/sample/n2"}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert request.key == hashlib.sha256(blob.encode()).hexdigest()[:24]


def test_images_go_as_data_url_parts_and_their_hash_is_the_key(tmp_path: Path) -> None:
    data = b"\xff\xd8 a jpeg"
    path = tmp_path / "frame_00.jpg"
    path.write_bytes(data)
    image = ImagePart(file=str(path), sha256=hashlib.sha256(data).hexdigest())
    message = Message("user", "judge these", images=(image,))
    assert message_content(message) == [
        {"type": "text", "text": "judge these"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(data).decode()}}]
    same = CallRequest("m", (message,), 1, 0.0, 800, "critic/r01c01")
    other = CallRequest("m", (Message("user", "judge these", images=(ImagePart(file=str(path), sha256="0" * 64),)),),
                        1, 0.0, 800, "critic/r01c01")
    moved = CallRequest("m", (Message("user", "judge these", images=(ImagePart(file="/elsewhere.jpg",
                                                                               sha256=image.sha256),)),), 1, 0.0, 800,
                        "critic/r01c01")
    assert same.key != other.key and same.key == moved.key  # the bytes decide, not where the run lies

    path.write_bytes(b"changed")
    with pytest.raises(DesignerError, match="changed after its request was made"):
        message_content(message)
    path.unlink()
    with pytest.raises(DesignerError, match="cannot be read"):
        message_content(message)
