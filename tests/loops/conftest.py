"""Make the loop tests' model builders (``builders.py`` next to this file) importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
