"""``python -m gridlab.config``: regenerate config/typed.py from default.yaml."""
from pathlib import Path

from . import typed_view_source

Path(__file__).with_name("typed.py").write_text(typed_view_source())
print(f"written: {Path(__file__).with_name('typed.py')}")
