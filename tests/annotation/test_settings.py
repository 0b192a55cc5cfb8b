"""Annotation settings: the YAML file, with the URL and token from the environment."""

from __future__ import annotations

import pytest

from annotation.client import token_kind
from annotation.settings import load_annotation_config, token_from_env
from shanyraq.errors import ConfigError


def test_shipped_config_loads_and_env_overrides_the_url(monkeypatch):
    monkeypatch.delenv("SHANYRAQ_LABEL_STUDIO_URL", raising=False)
    assert load_annotation_config().server.url == "http://127.0.0.1:8080"
    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_URL", "http://ls.example:9000")
    config = load_annotation_config()
    assert config.server.url == "http://ls.example:9000"
    assert config.photos_dir().parent == config.document_root()


def test_bad_key_is_named(tmp_path):
    path = tmp_path / "annotation.yaml"
    path.write_text("selection:\n  pool_factr: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"selection\.pool_factr"):
        load_annotation_config(path)


def test_token_comes_only_from_the_environment(monkeypatch):
    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_TOKEN", "  abc123  ")
    assert token_from_env() == "abc123"
    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_TOKEN", "")
    with pytest.raises(ConfigError, match="personal access token"):
        token_from_env()


def test_token_kinds_are_told_apart_by_form():
    assert token_kind("eyJhbGciOi.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2ln") == "personal_access_token"
    assert token_kind("0123456789abcdef0123456789abcdef01234567") == "legacy"
