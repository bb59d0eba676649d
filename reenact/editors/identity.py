from __future__ import annotations

from ..pipeline.types import Edit
from .base import EDITORS, EditRequest, unchanged


@EDITORS.register("identity")
class IdentityEditor:
    """Returns the crop unchanged with an empty mask: the pipeline's pass-through."""

    needs_au = False

    def edit(self, req: EditRequest) -> Edit:
        return unchanged(req.crop)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass
