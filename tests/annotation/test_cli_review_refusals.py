"""`annotate select` on outputs that exist and on scores it cannot use, and `annotate` against
a server that does not answer as Label Studio does: one clear error each, nothing lost.

The server cases use a small HTTP server in the test: a real Label Studio cannot be made to
answer wrongly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from typer.testing import CliRunner

from annotation.cli import app
from annotation.label_config import taxonomy_marker
from shanyraq.manifest import read_manifest
from tests.refusals import error_code

from .helpers import unread_score
from .label_studio_helpers import served

runner = CliRunner()
PROJECT_TITLE = "Review probe"
REQUEST_CAP = 40  # the fake server ends any listing after this many requests (404)


def _select(manifest: Path, out: Path, scores: Path, *extra: str):
    args = ["select", str(manifest), "--budget", "2", "--scores", str(scores), "--out", str(out)]
    return runner.invoke(app, [*args, *extra])


# --- select: existing outputs (M1) ---


@pytest.mark.parametrize("existing", ["picked.csv", "picked.csv.json"])
def test_select_refuses_an_existing_out_or_record_unless_overwrite(tmp_path, pool, existing):
    manifest, scores = pool
    out = tmp_path / "picked.csv"
    (tmp_path / existing).write_text("precious\n", encoding="utf-8")
    result = _select(manifest, out, scores)
    assert error_code(result.exception) == "output_exists"
    assert "--overwrite" in result.exception.message
    assert (tmp_path / existing).read_text(encoding="utf-8") == "precious\n"

    assert _select(manifest, out, scores, "--overwrite").exit_code == 0
    assert json.loads((tmp_path / "picked.csv.json").read_text())["picked"] == 2


@pytest.mark.parametrize(
    "existing", ["labels.csv", "labels.report.json", "labels.disagreements.csv"]
)
def test_pull_refuses_to_replace_an_earlier_pull_unless_overwrite(tmp_path, fake_server, existing):
    """Refused before the server is asked; with --overwrite the pull goes ahead."""
    out = tmp_path / "labels.csv"
    (tmp_path / existing).write_text("precious\n", encoding="utf-8")
    result = _run(fake_server, "pull", "--out", str(out))
    assert error_code(result.exception) == "output_exists"
    assert "--overwrite" in result.exception.message and existing in result.exception.message
    assert (tmp_path / existing).read_text(encoding="utf-8") == "precious\n"
    assert fake_server.requests == []

    result = _run(fake_server, "pull", "--out", str(out), "--overwrite")
    assert error_code(result.exception) != "output_exists"
    assert fake_server.requests  # it went on to the server


def test_pull_refuses_a_folder_as_out(tmp_path, fake_server):
    (tmp_path / "labels.csv").mkdir()
    result = _run(fake_server, "pull", "--out", str(tmp_path / "labels.csv"))
    assert error_code(result.exception) == "input_file_invalid"
    assert fake_server.requests == []


def test_select_never_writes_its_picks_over_the_scores(pool):
    manifest, scores = pool
    before = scores.read_bytes()
    result = _select(manifest, scores, scores, "--overwrite")
    assert error_code(result.exception) == "input_file_invalid"
    assert scores.read_bytes() == before


# --- select: scores it cannot use (M7, M13) ---


def _rewrite_first_line(scores: Path, change) -> None:
    lines = scores.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    change(first)
    scores.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n", encoding="utf-8")


def test_scores_without_embeddings_are_refused_naming_the_line(tmp_path, pool):
    """As `score --json` gives them: PhotoScore.to_dict leaves the embedding out."""
    manifest, scores = pool
    _rewrite_first_line(scores, lambda s: s.pop("embedding"))
    result = _select(manifest, tmp_path / "p.csv", scores)
    assert error_code(result.exception) == "annotation_scores_invalid"
    message = result.exception.message
    assert f"{scores}, line 1" in message and "no embedding" in message
    assert "--save-scores" in message
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda s: s.update(room={"castle": 1.0}), "castle"),
        (lambda s: s.update(condition={"9": 1.0}), "9"),
        (lambda s: s["signs"].update(gold_toilet=0.5), "gold_toilet"),
        (lambda s: s["room"].update(kitchen=float("nan")), "not numbers from 0 to 1"),
        (lambda s: s["room"].update(kitchen=5.0), "not numbers from 0 to 1"),
        (lambda s: s.update(room=dict(reversed(list(s["room"].items())[1:]))), "no probability"),
    ],
)
def test_scores_off_the_taxonomy_are_refused_naming_the_line(tmp_path, pool, change, words):
    manifest, scores = pool
    _rewrite_first_line(scores, change)
    result = _select(manifest, tmp_path / "p.csv", scores)
    assert error_code(result.exception) == "annotation_scores_invalid"
    assert f"{scores}, line 1" in result.exception.message
    assert words in result.exception.message


def test_scores_in_another_key_order_are_read_in_the_taxonomy_order(tmp_path, pool, taxonomy):
    from annotation.scoring import read_scores

    _, scores = pool
    _rewrite_first_line(scores, lambda s: s.update(room=dict(reversed(s["room"].items()))))
    first = next(iter(read_scores(scores, taxonomy=taxonomy, need_embeddings=True).values()))
    assert list(first.room) == taxonomy.room_names


def test_a_scores_file_that_is_not_utf8_is_named(tmp_path, pool):
    manifest, scores = pool
    scores.write_bytes(b"\xff\xfe junk\n")
    result = _select(manifest, tmp_path / "p.csv", scores)
    assert error_code(result.exception) == "annotation_scores_invalid"
    assert f"{scores} is not UTF-8 text (line 1" in result.exception.message


# --- a server that does not answer as Label Studio does (M8, L9) ---


@dataclass
class FakeServer:
    """Answers whoami as Label Studio, and the rest as `routes` say (an answer, or a function
    of the page number giving one); counts requests."""

    routes: dict[str, tuple[int, str] | Callable[[int], tuple[int, str]]]
    paged: set[str] = field(default_factory=set)  # paths whose page 2 on is 404, as in LS
    requests: list[str] = field(default_factory=list)
    url: str = ""
    config: Path = Path()  # an annotation.yaml pointing at it


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requests.append(self.path)
            path = self.path.split("?")[0].rstrip("/") + "/"  # the SDK's whoami has no slash
            page = int(parse_qs(urlsplit(self.path).query).get("page", ["1"])[0])
            route = server.routes.get(path, (404, '{"detail": "Not found."}'))
            status, body = route(page) if callable(route) else route
            if path in server.paged and page > 1:
                status, body = 404, '{"detail": "Invalid page."}'
            if path != "/api/current-user/whoami/" and len(server.requests) > REQUEST_CAP:
                status, body = 404, '{"detail": "Invalid page."}'  # ends any paging
            data = body.encode()
            kind = "text/html" if body.lstrip().startswith("<") else "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_PATCH = do_GET

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def fake_server(tmp_path, monkeypatch) -> Iterator[FakeServer]:
    server = FakeServer(
        routes={"/api/current-user/whoami/": (200, '{"id": 1, "email": "a@b.test"}')}
    )
    http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    server.url = f"http://127.0.0.1:{http.server_address[1]}"
    server.config = tmp_path / "annotation.yaml"
    settings = {
        "server": {"url": server.url, "timeout_s": 5},
        "project": {"title": PROJECT_TITLE, "document_root": str(tmp_path), "photos_folder": "p"},
    }
    server.config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    monkeypatch.delenv("SHANYRAQ_LABEL_STUDIO_URL", raising=False)
    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_TOKEN", "0123456789abcdef")
    with served(http):
        yield server


def _run(server: FakeServer, *args: str):
    return runner.invoke(app, [*args, "--config", str(server.config)])


def _project(taxonomy) -> dict[str, object]:
    return {"id": 7, "title": PROJECT_TITLE, "description": f"x {taxonomy_marker(taxonomy)}"}


def _assert_one_clear_error(result, server: FakeServer) -> str:
    assert error_code(result.exception) == "label_studio_unexpected_answer"
    message = result.exception.message
    assert server.url in message and "\n" not in message
    assert len(server.requests) <= 3  # bounded: no paging on and on
    return message


@pytest.mark.parametrize(
    "answer",
    [
        '{"results": "nope", "count": "x"}',  # paged as "n", "o", "p", "e", page after page
        '[{"id": "abc"}]',  # a traceback inside the SDK
        '{"count": 1, "results": [{"id": "abc", "title": 5}]}',
        "<html><head><title>Sign in</title></head><body>proxy</body></html>",
    ],
)
def test_a_list_answer_of_another_shape_is_one_clear_error(tmp_path, fake_server, answer):
    fake_server.routes["/api/projects/"] = (200, answer)
    out = tmp_path / "pulled.csv"
    result = _run(fake_server, "pull", "--out", str(out))
    assert "listing projects" in _assert_one_clear_error(result, fake_server)
    assert not out.exists()


def test_a_server_that_ignores_the_page_number_is_stopped(tmp_path, fake_server, taxonomy):
    page = {"count": 1, "results": [_project(taxonomy)]}
    fake_server.routes["/api/projects/"] = (200, json.dumps(page))  # every page the same
    result = _run(fake_server, "pull", "--out", str(tmp_path / "pulled.csv"))
    assert "brought only items of the pages before it" in _assert_one_clear_error(
        result, fake_server
    )


def _task(task_id: int, annotations: object = ()) -> dict[str, object]:
    return {
        "id": task_id,
        "data": {"photo": "p/a.jpg", "sha256": "ab", "family_id": "f", "split": "train"},
        "annotations": annotations if isinstance(annotations, str) else list(annotations),
        "predictions": [],
    }


def _tasks_page(total: int, *tasks: dict[str, object]) -> tuple[int, str]:
    page = {"total": total, "total_annotations": 1, "total_predictions": 0, "tasks": list(tasks)}
    return 200, json.dumps(page)


def _with_project(server: FakeServer, taxonomy) -> None:
    server.routes["/api/projects/"] = (
        200,
        json.dumps({"count": 1, "results": [_project(taxonomy)]}),
    )
    server.paged.add("/api/projects/")
    # The project itself: no model version (annotation.answers.project_model_version).
    server.routes["/api/projects/7/"] = (200, json.dumps(_project(taxonomy)))


def test_pull_stops_on_repeated_task_pages_and_keeps_the_earlier_pull(
    tmp_path, fake_server, taxonomy
):
    _with_project(fake_server, taxonomy)
    fake_server.routes["/api/tasks/"] = _tasks_page(5, _task(1))  # page 1 again and again
    out = tmp_path / "pulled.csv"
    out.write_text("an earlier pull\n", encoding="utf-8")
    result = _run(fake_server, "pull", "--out", str(out), "--overwrite")
    assert error_code(result.exception) == "label_studio_unexpected_answer"
    assert "reading annotations" in result.exception.message
    assert sum("/api/tasks/" in r for r in fake_server.requests) == 2
    assert out.read_text(encoding="utf-8") == "an earlier pull\n"


def test_whoami_of_another_shape_is_one_clear_error(fake_server):
    fake_server.routes["/api/current-user/whoami/"] = (200, "[1, 2]")
    result = _run(fake_server, "init")
    assert "connecting" in _assert_one_clear_error(result, fake_server)


def test_a_server_that_is_not_label_studio_is_named_briefly(fake_server):
    page = (
        "<!DOCTYPE HTML>\n<html lang='en'>\n<head><title>Error response</title></head>\n"
        "<body>\n<h1>Error response</h1>\n<p>Error code: 404</p>\n"
        + "<p>Message: File not found.</p>\n" * 20
        + "</body>\n</html>\n"
    )
    fake_server.routes["/api/current-user/whoami/"] = (404, page)
    result = _run(fake_server, "init")
    assert error_code(result.exception) == "label_studio_error"
    message = result.exception.message
    assert "answered 404 while connecting: Error response;" in message
    assert "<" not in message and "\n" not in message
    assert "address of the Label Studio server itself" in message


def test_pull_stops_at_more_tasks_than_the_server_says_it_has(tmp_path, fake_server, taxonomy):
    _with_project(fake_server, taxonomy)
    fake_server.routes["/api/tasks/"] = lambda page: _tasks_page(2, _task(page))  # new, forever
    result = _run(fake_server, "pull", "--out", str(tmp_path / "pulled.csv"))
    assert error_code(result.exception) == "label_studio_unexpected_answer"
    assert "says it has 2 item(s) but page 3" in result.exception.message
    assert sum("/api/tasks/" in r for r in fake_server.requests) == 3
    assert not (tmp_path / "pulled.csv").exists()


def test_pull_names_a_task_whose_annotations_it_cannot_read(tmp_path, fake_server, taxonomy):
    _with_project(fake_server, taxonomy)
    fake_server.routes["/api/tasks/"] = _tasks_page(1, _task(4, annotations="not a list"))
    fake_server.paged.add("/api/tasks/")
    result = _run(fake_server, "pull", "--out", str(tmp_path / "pulled.csv"))
    assert error_code(result.exception) == "label_studio_unexpected_answer"
    assert f"{fake_server.url} sent task 4" in result.exception.message
    assert not (tmp_path / "pulled.csv").exists()


# --- scores the model gave no numbers for (NaN), as push --save-scores writes them ---


def _with_unread_photo(pool, taxonomy, which=(0,)):
    """The pool's scores with the photos at `which` unread (NaN, abstaining), written by
    write_scores as push --save-scores does."""
    from annotation.scoring import read_scores, write_scores

    manifest, scores = pool
    rows = read_manifest(manifest).rows
    by_sha = read_scores(scores)
    for i in which:
        by_sha[rows[i].sha256] = unread_score(rows[i].sha256, taxonomy)
    write_scores(scores, by_sha.values())
    return rows


def test_a_photo_the_model_gave_no_numbers_for_is_left_out_of_selection(tmp_path, pool, taxonomy):
    manifest, scores = pool
    rows = _with_unread_photo(pool, taxonomy)
    text = scores.read_text(encoding="utf-8")
    assert "NaN" not in text and "null" in text  # strict JSON: the model's no-number is null
    out = tmp_path / "p.csv"
    result = _select(manifest, out, scores, "--budget", "4")
    assert result.exit_code == 0, result.output
    picked = {r.sha256 for r in read_manifest(out).rows}
    assert picked == {r.sha256 for r in rows[1:]}
    record = json.loads((tmp_path / "p.csv.json").read_text())
    assert record["unplaced"] == [rows[0].path] and record["candidates"] == 3
    assert "1 unlabelled photo(s) left out: the model gave no numbers" in result.stderr


def test_a_pool_of_photos_the_model_gave_no_numbers_for_is_refused(tmp_path, pool, taxonomy):
    manifest, scores = pool
    _with_unread_photo(pool, taxonomy, which=range(4))
    result = _select(manifest, tmp_path / "p.csv", scores)
    assert error_code(result.exception) == "nothing_to_select", repr(result.exception)
    assert "embedding of each of the 4 left" in result.exception.message
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize(
    "change",
    [lambda s: s["room"].update(kitchen=None), lambda s: s["embedding"].__setitem__(0, None)],
    ids=["room", "embedding"],
)
def test_a_null_in_a_score_that_does_not_abstain_is_refused(tmp_path, pool, change):
    manifest, scores = pool
    _rewrite_first_line(scores, change)
    result = _select(manifest, tmp_path / "p.csv", scores)
    assert error_code(result.exception) == "annotation_scores_invalid"
    message = result.exception.message
    assert f"{scores}, line 1" in message and "null only in a score that abstains" in message
