from __future__ import annotations

import pytest

from my_app import database
from my_app.config import Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No setting leaks in from the outer environment (CI's DATABASE_URL, MYAPP_ENV=test...)."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("MYAPP_ENV", raising=False)
    monkeypatch.delenv(database.TEST_PARTITION_VARIABLE, raising=False)
    return monkeypatch
