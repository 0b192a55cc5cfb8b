"""tests/library_once_helpers.py `replace_once`: the test-only replacements of library
internals are put in place once, keep the real one reachable, and leave a library alone that
lacks the name."""

from __future__ import annotations

from types import SimpleNamespace

from tests.library_once_helpers import replace_once


def _doubled(real):
    return lambda x: 2 * real(x)


def test_the_replacement_wraps_the_real_one_and_is_put_in_place_once():
    owner = SimpleNamespace(f=lambda x: x + 1)
    real = owner.f
    replace_once(owner, "f", _doubled)
    assert owner.f(1) == 4
    assert owner.f.__wrapped__ is real
    replace_once(owner, "f", _doubled)  # again: the one in place stays
    assert owner.f(1) == 4


def test_a_name_the_library_does_not_have_is_left_alone():
    owner = SimpleNamespace()
    replace_once(owner, "missing", _doubled)
    assert not hasattr(owner, "missing")


def test_a_static_replacement_is_called_on_the_class():
    class Owner:
        @classmethod
        def make(cls, x):
            return (cls.__name__, x)

    replace_once(Owner, "make", lambda real: lambda x: real(x) * 2, static=True)
    assert Owner.make(1) == ("Owner", 1, "Owner", 1)
