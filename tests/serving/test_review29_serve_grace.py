"""Review 29: on a stop (SIGTERM) `shanyraq serve` and `demo` waited without bound for the
requests in flight before the app's own shutdown began: an upload on a hung model held it for
`score_timeout_s`, a client that never ended its body for ever, and under Kubernetes' default
grace of 30 s the pod was killed first. Now they wait `shutdown_requests_s` (serving.yaml) at
most, then cancel those requests, and the service shuts down and exits."""

from __future__ import annotations

import signal
import socket

import pytest
import yaml

from serving.core.config import load_serving_settings
from shanyraq.errors import ConfigError
from tests.serving.helpers import ROOT
from tests.serving.subprocess_runs import EXIT_BOUND_S, START_BOUND_S, ended, start_serve

KUBERNETES_DEFAULT_GRACE_S = 30


def _request_in_flight(port: int) -> socket.socket:
    """A sign-in whose body never ends, once the app reads it (the server's 100 Continue)."""
    client = socket.create_connection(("127.0.0.1", port), timeout=START_BOUND_S)
    client.sendall(
        b"POST /auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    seen = b""
    while b"\r\n\r\n" not in seen:
        chunk = client.recv(4096)
        assert chunk, f"the server closed the connection: {seen!r}"
        seen += chunk
    assert seen.startswith(b"HTTP/1.1 100 "), seen
    client.sendall(b"username=inspector&password=")  # and never the rest
    return client


@pytest.mark.slow  # `serve` starts in a process of its own
def test_serve_cancels_a_request_that_never_ends_after_shutdown_requests_s_and_exits(tmp_path):
    process, port = start_serve(tmp_path, shutdown_requests_s=1)  # its stop waits 1 s
    client = _request_in_flight(port)
    try:
        process.send_signal(signal.SIGTERM)
        _, stderr = ended(process, bound_s=EXIT_BOUND_S, what="serve, sent SIGTERM,")
    finally:
        client.close()
    # uvicorn ends a stop by raising the signal again once it has shut down.
    assert process.returncode == -signal.SIGTERM, stderr
    cancelled = stderr.find("Cancel 1 running task(s), timeout graceful shutdown exceeded")
    assert cancelled >= 0, stderr
    # Then the app shut down (the database closed, the photo pipeline closed).
    assert stderr.find("Application shutdown complete", cancelled) > cancelled, stderr


def test_the_shipped_stop_fits_kubernetes_default_grace_with_seconds_to_spare():
    shipped = yaml.safe_load((ROOT / "configs" / "serving.yaml").read_text())
    stop_s = shipped["shutdown_requests_s"] + shipped["batching"]["shutdown_wait_s"]
    assert stop_s + 5 <= KUBERNETES_DEFAULT_GRACE_S


def test_a_site_config_without_the_key_gets_the_shipped_value(tmp_path, monkeypatch):
    monkeypatch.delenv("SHANYRAQ_SERVING__SHUTDOWN_REQUESTS_S", raising=False)
    shipped = yaml.safe_load((ROOT / "configs" / "serving.yaml").read_text())
    path = tmp_path / "serving.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path)}), encoding="utf-8")
    assert load_serving_settings(path).shutdown_requests_s == shipped["shutdown_requests_s"]


def test_the_requests_wait_is_read_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SHANYRAQ_SERVING__SHUTDOWN_REQUESTS_S", "3")
    assert load_serving_settings(data_dir=tmp_path).shutdown_requests_s == 3


@pytest.mark.parametrize(
    ("value", "reason"),
    [(0, "greater than 0"), (-1, "greater than 0"), (1.5, "valid integer"), ("inf", "integer")],
)
def test_a_requests_wait_not_a_whole_number_of_seconds_above_zero_is_refused(
    tmp_path, value, reason
):
    # uvicorn takes whole seconds; 0 would cancel every request in flight at once.
    path = tmp_path / "serving.yaml"
    path.write_text(yaml.safe_dump({"shutdown_requests_s": value}), encoding="utf-8")
    with pytest.raises(
        ConfigError, match=rf"key 'shutdown_requests_s': Input should be .*{reason}"
    ):
        load_serving_settings(path)
