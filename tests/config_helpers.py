"""Loading a config written by a test: what the daemon and the commands read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from topicwatch.daemon.config import ConfigError, load_config


def parse(text: str, tmp_path: Path) -> Any:
    path = tmp_path / "topicwatch.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def one_line_error(text: str, tmp_path: Path) -> str:
    """The ConfigError the text makes, which must be one line."""
    with pytest.raises(ConfigError) as caught:
        parse(text, tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    return message
