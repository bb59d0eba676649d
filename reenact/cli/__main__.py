"""`python -m reenact.cli`."""
import sys

from . import main

sys.exit(main())
