"""Test-only replacements of library internals that the tests would otherwise redo for every
app they start or command they run (tests/conftest.py puts them in place for every test
process): FastAPI's typed signatures and field TypeAdapters, alembic's ScriptDirectory, typer's
parameters of a command. Each keeps what the library's
own code made, under a key of everything it depends on, and stands down where the installed
library lacks what it replaces."""

from __future__ import annotations

import functools
import inspect
from typing import Any


def replace_once(owner: Any, name: str, wrap: Any, *, static: bool = False) -> None:
    """Put `wrap(real)`, wrapped as `real` (`__wrapped__`), in place of `owner.name` (`real`)
    for this process; called again, it leaves the one in place. `static`: put in place as a
    static method of the class `owner`."""
    real = getattr(owner, name, None)
    if real is None or getattr(real, "replaced_once", False):
        return  # not there (another version of the library): left as the library has it
    replacement = functools.wraps(real)(wrap(real))
    replacement.replaced_once = True
    setattr(owner, name, staticmethod(replacement) if static else replacement)


def fastapi_signatures_read_once() -> None:
    """FastAPI's reading of an endpoint's or dependency's typed signature kept per callable for
    the process. FastAPI reads them again for every app, at its first request (each route of an
    included router, string annotations evaluated anew), and the tests start an app for most
    tests: about a third of an app's start and first requests. The signature read is FastAPI's
    own (`real`), and a callable's annotations do not change after its module is imported."""
    from fastapi.dependencies import utils

    def wrap(real: Any) -> Any:
        read: dict[Any, inspect.Signature] = {}

        def read_once(call: Any) -> inspect.Signature:
            try:
                return read[call]
            except KeyError:
                read[call] = real(call)
                return read[call]
            except TypeError:  # a callable that cannot be a key
                return real(call)

        return read_once

    replace_once(utils, "get_typed_signature", wrap)


def typer_parameters_read_once() -> None:
    """typer's reading of a command's parameters from its function (signature and type hints,
    string annotations evaluated) kept per function for the process. typer builds the whole
    click command tree again for every CliRunner.invoke, and reading the 85 functions of
    `shanyraq` is about nine tenths of it (45-80 ms a run; 2.5 % of the whole suite's
    samples); the command itself reads them once per process. Each call still gets what
    typer's own `get_params_from_function` (`real`) returns on its own: new ParamMeta
    objects, with a new copy of each ParameterInfo default. Kept by weak reference: a function
    defined anew for each app (its root callback) is let go with it."""
    import weakref
    from copy import copy

    from typer import main
    from typer.models import ParameterInfo, ParamMeta

    def wrap(real: Any) -> Any:
        read: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()

        def read_once(func: Any) -> dict[str, Any]:
            try:
                params = read[func]
            except KeyError:
                params = read[func] = real(func)
            except TypeError:  # a callable that cannot be a weak key
                return real(func)
            return {
                name: ParamMeta(
                    name=meta.name,
                    default=copy(meta.default)
                    if isinstance(meta.default, ParameterInfo)
                    else meta.default,
                    annotation=meta.annotation,
                )
                for name, meta in params.items()
            }

        return read_once

    replace_once(main, "get_params_from_function", wrap)


_PLAIN = (str, int, float, bool, bytes, type(None))


def value_key(value: Any) -> Any:
    """A key equal for two values only when they are the same value: plain data (str, numbers,
    None, and lists, tuples, sets and dicts of them) by type and content; anything else that is
    hashable as itself (a class, a function, a typing form, a frozen constraint). None when
    some part is neither, so the caller does not keep what it made."""
    if isinstance(value, _PLAIN):
        return (type(value), value)
    if isinstance(value, (list, tuple)):
        items = [value_key(item) for item in value]
        return None if None in items else (type(value), tuple(items))
    if isinstance(value, (set, frozenset)):
        items = [value_key(item) for item in value]
        return None if None in items else (type(value), frozenset(items))
    if isinstance(value, dict):
        pairs = [(value_key(k), value_key(v)) for k, v in value.items()]
        if any(k is None or v is None for k, v in pairs):
            return None
        return (dict, frozenset(pairs))
    try:
        hash(value)
    except TypeError:
        return None
    return ("object", value)


def fastapi_type_adapters_made_once() -> None:
    """FastAPI's pydantic TypeAdapter of a parameter or body field kept per field for the
    process. FastAPI builds one for every field of every route again for each app, at its first
    request (a pydantic schema each, 3 % of the whole suite's samples). A field's adapter
    depends only on its FieldInfo's annotation, metadata and attributes and the model config
    (fastapi/_compat/v2.py `ModelField.__post_init__`); one built for an equal field is used
    again, built by FastAPI's own code; a field with any part that has no safe key
    (`value_key`) gets its own, as before. What FastAPI's own `__post_init__` sets on the
    field, whatever it is in the installed version, is what a later equal field gets; a FastAPI
    without these internals is left as it is."""
    try:
        from fastapi._compat import v2
    except ImportError:
        return
    if not hasattr(v2, "asdict") or hasattr(getattr(v2, "ModelField", None), "__slots__"):
        return

    def wrap(real: Any) -> Any:
        made: dict[Any, dict[str, Any]] = {}

        def made_once(self: Any) -> None:
            key = value_key((v2.asdict(self.field_info), self.config))
            if key is None:
                real(self)
            elif key in made:
                self.__dict__.update(made[key])
            else:
                before = dict(self.__dict__)
                real(self)
                made[key] = {
                    name: value
                    for name, value in self.__dict__.items()
                    if name not in before or before[name] is not value
                }

        return made_once

    replace_once(v2.ModelField, "__post_init__", wrap)


def _scripts_fingerprint(folders: list[str]) -> tuple[tuple[str, int, int], ...]:
    """Each Python file under `folders`: its path, size and modification time."""
    from pathlib import Path

    files = sorted(p for folder in folders for p in Path(folder).rglob("*.py"))
    stats = [(p, p.stat()) for p in files]
    return tuple((str(p), stat.st_size, stat.st_mtime_ns) for p, stat in stats)


def alembic_scripts_read_once() -> None:
    """Alembic's ScriptDirectory (the revision files, loaded and mapped) kept for the process
    per configuration and per state of its files. Every `upgrade` made a new one, and every
    app the tests start migrates at its start: loading the 15 revision files again was about
    half of a start's migration check for a database already at head (1.7 % of the whole
    suite's samples). A Config that changes the search path (`prepend_sys_path`) is read anew
    each time, as before; an edited, added or removed revision file makes a new one."""
    from alembic.script import base

    def wrap(real: Any) -> Any:
        kept: dict[Any, Any] = {}

        def read_once(config: Any) -> Any:
            try:
                key = _scripts_key(config)
            except AttributeError:  # an alembic without these options: read as it reads
                return real(config)
            if key is None:
                return real(config)
            if key not in kept:
                kept[key] = real(config)
            return kept[key]

        return read_once

    replace_once(base.ScriptDirectory, "from_config", wrap, static=True)


def _scripts_key(config: Any) -> Any:
    """What a ScriptDirectory read from alembic's `config` depends on, with the state of its
    revision files; None for a Config that changes the search path (`prepend_sys_path`)."""
    if config.get_prepend_sys_paths_list():
        return None
    location = config.get_alembic_option("script_location")
    versions = config.get_version_locations_list() or []
    options = tuple(
        repr(config.get_alembic_option(name))
        for name in (
            "file_template",
            "truncate_slug_length",
            "sourceless",
            "output_encoding",
            "timezone",
            "recursive_version_locations",
        )
    )
    folders = [str(location), *versions]
    return (
        tuple(folders),
        options,
        repr(config.get_hooks_list()),
        repr(config.messaging_opts),
        _scripts_fingerprint(folders),
    )
