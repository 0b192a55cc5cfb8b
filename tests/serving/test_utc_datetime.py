"""UTCDateTime reads every timestamp back in UTC, whatever zone the database's session is in.

PostgreSQL hands a `timestamp with time zone` back in its session's zone (the server's
`timezone` setting): a server set to Asia/Almaty gave 01:48+05:00 on the next day for an
upload at 20:48 UTC, so a resent upload's answer differed from the first one's, and a promotion
told `--since` a day after the late photo's own (UTC) day, which the re-score then missed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from serving.db.models import UTCDateTime
from serving.db.session import is_sqlite, make_engine

AT = datetime(2026, 12, 7, 20, 48, 13, 837017, tzinfo=UTC)  # 01:48 on the 8th in Almaty


def test_timestamps_come_back_in_utc_from_a_session_in_another_zone(database_url: str) -> None:
    table = Table(
        "moments", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime())
    )
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            if not is_sqlite(database_url):
                connection.exec_driver_sql("SET TIME ZONE 'Asia/Almaty'")
            table.create(connection)
            almaty = timezone(timedelta(hours=5))
            connection.execute(
                insert(table),
                [
                    {"id": 1, "at": AT},
                    {"id": 2, "at": AT.astimezone(almaty)},  # the same instant, given in +05:00
                    {"id": 3, "at": AT.replace(tzinfo=None)},  # naive: taken as UTC
                ],
            )
            read = [at for (at,) in connection.execute(select(table.c.at).order_by(table.c.id))]
    finally:
        engine.dispose()
    assert read == [AT, AT, AT]
    assert [at.utcoffset() for at in read] == [timedelta(0)] * 3
    assert {at.isoformat() for at in read} == {"2026-12-07T20:48:13.837017+00:00"}
    assert {at.date() for at in read} == {date(2026, 12, 7)}
