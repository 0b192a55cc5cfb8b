"""What the CLI refusal tests share: the code a refusal carried, and a stand-in for work that
must not start before the input is checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def error_code(exc: BaseException | None) -> str | None:
    """The stable code of a ShanyraqError (None for anything else, or no exception)."""
    return getattr(exc, "code", None)


def must_not_run(name: str) -> Callable[..., Any]:
    """A replacement for `name` that fails the test if it is called."""

    def called(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{name} ran before the input was checked")

    return called
