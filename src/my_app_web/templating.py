"""The Jinja2 environment that pages and components render with."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

TEMPLATES_PATH = Path(__file__).parent / "templates"
STATIC_PATH = Path(__file__).parent / "static"

templates = Jinja2Templates(directory=TEMPLATES_PATH)
