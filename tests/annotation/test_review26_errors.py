"""`shanyraq annotate` errors: a token written into annotation.yaml is refused without being
shown; a Label Studio that takes a request but does not answer it in time is named as slow, with
the setting to raise, not as one that cannot be reached."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from annotation.client import LabelStudioError, LabelStudioUnreachableError, connect
from annotation.settings import load_annotation_config
from annotation.tasks import push_rows
from shanyraq.errors import ConfigError
from tests.annotation.label_studio_helpers import (
    LEGACY,
    PROJECT,
    FakeImporting,
    QuietServer,
    running,
)

from .helpers import make_manifest

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2VjcmV0LXNpZ25hdHVyZQ"


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        (f"server:\n  url: http://127.0.0.1:8080\n  token: {TOKEN}\n", "server.token"),
        (f"token: {TOKEN}\n", "token"),
        (f"server:\n  api_key: '{TOKEN}'\n", "server.api_key"),
    ],
)
def test_a_token_in_the_config_file_is_refused_without_being_shown(tmp_path, yaml_text, key):
    path = tmp_path / "annotation.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_annotation_config(path)
    assert TOKEN not in caught.value.message
    assert f"'{key}'" in caught.value.message
    assert "SHANYRAQ_LABEL_STUDIO_TOKEN" in caught.value.message


def test_the_command_line_prints_no_token_from_the_config_file(tmp_path):
    path = tmp_path / "annotation.yaml"
    path.write_text(f"server:\n  url: http://127.0.0.1:9\n  token: {TOKEN}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHANYRAQ_LABEL_STUDIO_")}
    done = subprocess.run(
        [sys.executable, "-m", "shanyraq.cli", "annotate", "init", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert "error [config_invalid]" in done.stderr
    assert TOKEN not in done.stdout + done.stderr


@pytest.fixture
def silent_server() -> Iterator[str]:
    """The URL of a server that takes connections (the system's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_server_that_takes_the_request_but_never_answers_is_named_slow(silent_server):
    with pytest.raises(LabelStudioUnreachableError) as caught:
        connect(silent_server, LEGACY, timeout_s=0.5)
    message = caught.value.message
    assert "did not answer within 0.5 s" in message
    assert "server.timeout_s in configs/annotation.yaml" in message
    assert "server is running" not in message  # it is: it took the request
    assert caught.value.code == "label_studio_timeout"


def test_an_import_whose_answer_timed_out_names_the_timeout_to_raise(tmp_path, taxonomy):
    server = FakeImporting(import_failures=[(201, False)], import_hang=threading.Event())
    document_root = tmp_path / "root"
    rows = make_manifest(document_root / "photos", tmp_path / "in" / "m.csv", 2, prefix="slow")
    server.served.append(str(document_root / "photos"))
    hang = server.import_hang
    with running(server, QuietServer):
        try:
            with pytest.raises(LabelStudioError) as caught:
                push_rows(
                    connect(server.url, LEGACY, timeout_s=0.5), PROJECT, rows,
                    manifest_root=tmp_path / "in", document_root=document_root, scores={},
                    taxonomy=taxonomy, sign_threshold=0.5, batch_size=2,
                )  # fmt: skip
        finally:
            hang.set()
    message = caught.value.message
    assert "wait a minute" in message  # it may still be saving them: nothing is sent again
    assert "waited 0.5 s" in message and "raise server.timeout_s" in message
    assert server.imports == 1
