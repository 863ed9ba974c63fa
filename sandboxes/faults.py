"""One shape for "untrusted code misbehaved": a machine-readable kind and a message for the designer.

The numpy worker's :class:`~sandboxes.client.CandidateFault`, the JAX export's
:class:`~sandboxes.jax.export.ExportFault` and the module check's
:class:`~sandboxes.jax.module_rules.ModuleRejected` are each a :class:`Fault` over their own kinds
(a ``Literal``), so a caller maps any of them onto a report the same way.
"""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K", bound=str)


class Fault(Exception, Generic[K]):
    """Untrusted code (or bytes it produced) misbehaved. ``kind`` says how; ``message`` is written for the designer."""

    def __init__(self, kind: K, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind: K = kind
        self.message = message
