"""The test processes' SQLite engines return unordered rows in reverse
(tests/unordered_rows_helpers.py), as the product's own engines make them."""

from __future__ import annotations

from pathlib import Path

from serving.db.session import make_engine


def test_the_product_engines_return_unordered_rows_in_reverse_in_tests(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'rows.db'}")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            connection.exec_driver_sql("INSERT INTO t VALUES (1), (2), (3)")
        with engine.connect() as connection:
            unordered = [x for (x,) in connection.exec_driver_sql("SELECT x FROM t")]
            ordered = [x for (x,) in connection.exec_driver_sql("SELECT x FROM t ORDER BY x")]
    finally:
        engine.dispose()
    assert unordered == [3, 2, 1]
    assert ordered == [1, 2, 3]
