"""tests/library_once_helpers.py keeps typer's parameters of a command's function for the
process: read once, each call given typer's own result anew, and a command built again still
parses as declared."""

from __future__ import annotations

import gc
import inspect
import weakref

import pytest
import typer
from typer import main
from typer.models import ParameterInfo
from typer.testing import CliRunner


def _greet(
    name: str = typer.Argument(..., help="Who."),
    times: int = typer.Option(1, "--times", min=1, help="How often."),
) -> None:
    typer.echo(" ".join([f"hello {name}"] * times))


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.callback()
    def _root() -> None:  # a function defined anew for each app, as shanyraq's root callback
        pass

    app.command("greet")(_greet)
    return app


def test_a_functions_parameters_are_read_once(monkeypatch: pytest.MonkeyPatch):
    def fresh(count: int = typer.Option(2, "--count")) -> None:
        pass

    reads: list[object] = []
    signature = inspect.signature

    def counted(func: object, **kwargs: object) -> inspect.Signature:
        reads.append(func)
        return signature(func, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(inspect, "signature", counted)
    first = main.get_params_from_function(fresh)
    second = main.get_params_from_function(fresh)
    assert reads == [fresh]
    real = main.get_params_from_function.__wrapped__(fresh)  # type: ignore[attr-defined]
    for params in (first, second):
        assert list(params) == list(real) == ["count"]
        meta = params["count"]
        assert (meta.name, meta.annotation) == ("count", real["count"].annotation)
        assert isinstance(meta.default, ParameterInfo)
        assert meta.default.default == real["count"].default.default == 2
        assert meta.default.param_decls == ("--count",)


def test_each_call_gets_its_own_parameter_infos_as_typer_gives_them():
    first = main.get_params_from_function(_greet)["times"]
    second = main.get_params_from_function(_greet)["times"]
    assert first is not second
    assert first.default is not second.default
    defaults = inspect.signature(_greet).parameters
    assert first.default is not defaults["times"].default  # never the function's own default
    first.default.default = 99  # what one build does to its copy, no later one sees
    assert main.get_params_from_function(_greet)["times"].default.default == 1


def test_a_command_built_again_parses_as_declared():
    runner = CliRunner()
    for _ in range(2):
        ran = runner.invoke(_app(), ["greet", "ana", "--times", "2"])
        assert ran.exit_code == 0, ran.output
        assert ran.output == "hello ana hello ana\n"
        refused = runner.invoke(_app(), ["greet", "ana", "--times", "0"])
        assert refused.exit_code == 2
        assert "--times" in refused.output


def test_a_function_made_for_one_app_is_let_go_with_it():
    def made() -> object:
        def callback(flag: bool = typer.Option(False, "--flag")) -> None:
            pass

        main.get_params_from_function(callback)
        return weakref.ref(callback)

    gone = made()
    gc.collect()
    assert gone() is None
