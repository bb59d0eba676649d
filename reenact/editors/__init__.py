"""Editors, found by name through EDITORS. Importing this package registers the built-in ones."""
from .base import EDITORS, Editor, EditRequest, unchanged
from . import identity  # noqa: F401  (registers "identity")
from .rig import editor as _rig  # noqa: F401  (registers "rig")
from .neural import editor as _neural  # noqa: F401  (registers "neural")
from .personal import editor as _personal  # noqa: F401  (registers "personal")

__all__ = ["EDITORS", "Editor", "EditRequest", "unchanged", "create_editor"]


def create_editor(spec: str, **kwargs) -> Editor:
    """'rig', 'identity' or 'neural:engines/NAME' → an Editor instance."""
    return EDITORS.create(spec, **kwargs)
