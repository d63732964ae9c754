"""Config loading: defaults, overrides, and errors that name file, key and line."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from core.config import ConfigError, load_config

if TYPE_CHECKING:
    from pathlib import Path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "user.toml"
    path.write_text(text)
    return path


def test_repo_defaults_then_user_overrides(tmp_path):
    path = write(tmp_path, '[aws]\nregion = "eu-west-1"\n[jumpstart.quotas]\n"ml.g5.2xlarge" = 2\n')
    config = load_config(path)
    assert config.aws.region == "eu-west-1"
    assert config.aws.s3_prefix == "tunedeck"  # untouched default from the repo file
    assert config.jumpstart.quotas == {"ml.g5.2xlarge": 2}
    assert config.sources[-1] == str(path)


def test_bad_toml_names_file(tmp_path):
    path = write(tmp_path, "[aws\nregion = 1\n")
    with pytest.raises(ConfigError, match=r"user\.toml: invalid TOML.*line 1"):
        load_config(path)


def test_wrong_type_names_key_and_line(tmp_path):
    path = write(tmp_path, '[aws]\nregion = "eu-west-1"\n\n[llm.generator]\nmodel = "m"\nrpm = "fast"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:6:")
    assert "'llm.generator.rpm' must be an integer" in str(info.value)


def test_invalid_value_names_key(tmp_path):
    path = write(tmp_path, '[llm.judge]\nprovider = "anthropic"\n')
    with pytest.raises(ConfigError, match=r"user\.toml:2: 'llm.judge.provider' must be one of openai, azure"):
        load_config(path)


def test_unknown_keys_warn_and_are_ignored(tmp_path):
    path = write(tmp_path, '[aws]\nregoin = "x"\n[colours]\nfoo = 1\n')
    config = load_config(path)
    assert any("user.toml:2: unknown key 'aws.regoin'" in w for w in config.warnings)
    assert any("unknown key 'colours'" in w for w in config.warnings)
    assert config.aws.region == "us-east-1"


def test_key_literal_draws_a_warning(tmp_path):
    path = write(tmp_path, '[llm.generator]\nbase_url = "http://x/sk-abcdefghijklmnopqrstuvwx"\n')
    assert any("secret key literal" in w for w in load_config(path).warnings)


def test_config_error_exits_2_without_traceback(tmp_path):
    path = write(tmp_path, "[ui]\nmouse = 3\n")
    result = subprocess.run(
        [sys.executable, "-m", "tui", "--config", str(path), "config", "show"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{path}:2: 'ui.mouse' must be true or false" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_show_prints_key_names_not_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-that-must-not-print-1234")
    result = subprocess.run([sys.executable, "-m", "tui", "config", "show"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'api_key_env = "OPENAI_API_KEY"' in result.stdout
    assert "sk-secret" not in result.stdout


@pytest.mark.parametrize(
    "line",
    [
        '[aws]\nprofile = "ASIAIOSFODNN7EXAMPLE"\n',
        '[aws]\nprofile = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n',
        '[llm.generator]\napi_key = "plain-key-pasted-here"\n',
    ],
)
def test_other_secret_shapes_draw_the_warning(tmp_path, line):
    assert any("secret key literal" in w for w in load_config(write(tmp_path, line)).warnings)


def test_the_shipped_config_draws_no_secret_warning():
    assert not any("secret" in w for w in load_config(include_user=False).warnings)
