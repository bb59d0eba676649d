"""`reenact batch`: lives in the reenact.batch package; registered here like every command."""
from ..batch.command import add_parser  # noqa: F401
