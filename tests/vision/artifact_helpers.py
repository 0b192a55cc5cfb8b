"""Edits of a model artifact's metadata for the artifact refusal tests."""

from __future__ import annotations


def set_value(*keys: str, value):
    def edit(data):
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value

    return edit
