"""Serving settings: a site's serving.yaml that leaves a key out gets the shipped value."""

from __future__ import annotations

import pytest

from serving.core.config import load_serving_settings
from shanyraq.config import default_configs_dir, read_yaml
from shanyraq.errors import ConfigError


def test_override_reasons_default_to_the_shipped_list(tmp_path):
    site = tmp_path / "serving.yaml"
    site.write_text(f"data_dir: {tmp_path}\n")
    shipped = read_yaml(default_configs_dir() / "serving.yaml")["override_reasons"]
    assert load_serving_settings(site).override_reasons == shipped


def test_an_empty_override_reason_list_is_refused(tmp_path):
    site = tmp_path / "serving.yaml"
    site.write_text(f"data_dir: {tmp_path}\noverride_reasons: []\n")
    with pytest.raises(ConfigError, match="override_reasons"):
        load_serving_settings(site)
