"""Extraction from realistic designer responses: fenced blocks, helpers, revisions, and typed failures."""

from __future__ import annotations

import ast

import pytest

from rewardsmith.agent.design.extract import ExtractionError, extract_reward

GOOD = '''I will reward forward progress and penalise effort.

```python
import numpy as np

W_SPEED = 1.0

def compute_reward(state, action):
    speed = W_SPEED * state.velocity
    return speed, {"speed": speed}
```

This should work well.'''

HELPERS_IN_ANOTHER_BLOCK = '''First a helper:

```python
import numpy as np
TEMP = 0.5

def bounded(x):
    return np.exp(-np.abs(x) / TEMP)
```

Then the reward:

```python
def compute_reward(state, action):
    r = bounded(state.angle)
    return r, {"upright": r}
```'''

REVISED = '''```python
def compute_reward(state, action):
    return state.x, {"x": state.x}
```
Wait, that ignores the action. Here is the corrected version:
```python
import numpy as np
def compute_reward(state, action):
    cost = -np.sum(action ** 2, axis=1)
    return state.x + cost, {"x": state.x, "cost": cost}
```'''

HELPER_AFTER = '''```python
import numpy as np

def compute_reward(state, action):
    r = shaped(state.x)
    return r, {"r": r}

def shaped(x):
    return np.tanh(x)
```'''

TRUNCATED = '''Here is the code:
```python
import numpy as np
def compute_reward(state, action):
    r = np.ones(len(action))
    return r, {"r": r}
'''


def _defs(code: str) -> list[str]:
    return [n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)]


def test_fenced_block_with_prose_around() -> None:
    code = extract_reward(GOOD).code
    assert "W_SPEED = 1.0" in code and "This should work" not in code
    assert _defs(code) == ["compute_reward"]


def test_helpers_from_another_block_are_carried_with_what_they_use() -> None:
    code = extract_reward(HELPERS_IN_ANOTHER_BLOCK).code
    assert _defs(code) == ["bounded", "compute_reward"]
    assert "TEMP = 0.5" in code and "import numpy as np" in code
    compile(code, "reward.py", "exec")


def test_the_last_revision_wins() -> None:
    code = extract_reward(REVISED).code
    assert "cost" in code and code.count("def compute_reward") == 1


def test_helpers_defined_after_the_function_are_kept() -> None:
    assert _defs(extract_reward(HELPER_AFTER).code) == ["compute_reward", "shaped"]


def test_a_response_cut_off_inside_the_block_is_still_read() -> None:
    assert "def compute_reward" in extract_reward(TRUNCATED).code


def test_bare_code_without_fences() -> None:
    bare = "import numpy as np\n\ndef compute_reward(state, action):\n    return state.x, {}\n"
    assert extract_reward(bare).code.strip() == bare.strip()


@pytest.mark.parametrize(
    ("response", "kind", "words"),
    [
        ("", "empty", "empty"),
        ("   \n", "empty", "empty"),
        ("I cannot help with that request.", "no_code", "no ```python code block"),
        ("```python\ndef compute_reward(state, action)\n    return 1\n```", "syntax", "line 1"),
        ("```python\ndef reward(state, action):\n    return 1, {}\n```", "no_function", "def compute_reward"),
        ("```javascript\nfunction compute_reward() {}\n```", "no_code", "no ```python"),
    ],
)
def test_failures_are_typed_and_worded_for_the_designer(response: str, kind: str, words: str) -> None:
    with pytest.raises(ExtractionError) as err:
        extract_reward(response)
    assert err.value.kind == kind
    assert words in err.value.message
