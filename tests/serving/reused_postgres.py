"""PostgreSQL databases used again by the next test of the same process, instead of a new copy
of the migrated template for each (tests/serving/migrated_postgres.py `migrated_postgres_db`:
`CREATE DATABASE` copies the template's 12 MB through the write-ahead log, 0.13-0.2 s of the
server's CPU for each of the about 430 tests whose database only their apps' start reads).

After such a test, its database is handed back (`give_back`) and emptied to the template's
state only where nothing of it but its rows can differ from the template: no other session is
connected to it, and its schema, its settings and its grants, read from the catalogs
(`_FINGERPRINT`), are the template's to the letter. Its rows are then deleted, the rows the
migrations wrote are written back (the audit chain's head) and every sequence is set back to
where the template has it. Anything else (another schema, a trigger dropped or disabled, a
grant, a database setting, a session left open, a revision) and the database is dropped, as
before, and the next test gets a new copy."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from tests.serving.migrated_postgres import (
    MAINTENANCE,
    drop_later,
    migrated_postgres_db,
    template_url,
)
from tests.serving.migration_helpers import plain

# Everything of a database that a test could change besides its rows, as text, one row each:
# its schemas, relations (tables, views, sequences, indexes, types), columns and their
# defaults, constraints, indexes, triggers (with whether each is enabled), functions, types,
# sequences' definitions, views, rules, row policies, grants and owners, the database's own
# settings, grants and limits, extensions, event triggers, publications, large objects and
# prepared transactions. System schemas are left out: a test cannot change them here without
# changing one of these too.
_USER = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_%'"


def _of_user_relation(column: str) -> str:
    """The join and filter that keep the catalog rows whose `column` is a relation of a schema
    of the database's own."""
    return f"""JOIN pg_catalog.pg_class c ON c.oid = {column}
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE {_USER}"""


_FINGERPRINT = f"""
SELECT format('schema %L %L %L', n.nspname, n.nspowner::regrole, n.nspacl)
  FROM pg_catalog.pg_namespace n WHERE {_USER}
UNION ALL
SELECT format('class %L %L %L %L %L %L %L %L %L %L %L', n.nspname, c.relname, c.relkind,
              c.relpersistence, c.relowner::regrole, c.relacl, c.reloptions, c.relrowsecurity,
              c.relforcerowsecurity, c.relreplident, c.relispartition)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE {_USER}
UNION ALL
SELECT format('column %L %L %L %L %L %L %L %L %L', a.attrelid::regclass, a.attname,
              pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
              a.attgenerated, a.attisdropped, a.attacl,
              pg_catalog.pg_get_expr(d.adbin, d.adrelid))
  FROM pg_catalog.pg_attribute a
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 {_of_user_relation("a.attrelid")} AND a.attnum > 0
UNION ALL
SELECT format('constraint %L %L %L %L %L %L %L', n.nspname, o.conname, o.conrelid::regclass,
              pg_catalog.pg_get_constraintdef(o.oid), o.convalidated, o.condeferrable,
              o.condeferred)
  FROM pg_catalog.pg_constraint o JOIN pg_catalog.pg_namespace n ON n.oid = o.connamespace
 WHERE {_USER}
UNION ALL
SELECT format('index %L %L %L', pg_catalog.pg_get_indexdef(i.indexrelid), i.indisvalid,
              i.indisready)
  FROM pg_catalog.pg_index i
 {_of_user_relation("i.indrelid")}
UNION ALL
SELECT format('trigger %L %L %L %L', t.tgrelid::regclass, t.tgname, t.tgenabled,
              pg_catalog.pg_get_triggerdef(t.oid))
  FROM pg_catalog.pg_trigger t
 {_of_user_relation("t.tgrelid")}
UNION ALL
SELECT format('function %L %L %L %L %L %L %L %L %L', n.nspname, p.proname,
              p.prorettype::regtype, p.proargtypes, p.prosrc, p.prosecdef,
              p.proowner::regrole, p.proacl, p.proconfig)
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE {_USER}
UNION ALL
SELECT format('type %L %L %L %L %L', n.nspname, t.typname, t.typtype, t.typacl,
              (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                 FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid))
  FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 WHERE {_USER}
UNION ALL
SELECT format('sequence %L %L %L %L %L %L %L %L', s.seqrelid::regclass, s.seqtypid::regtype,
              s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle)
  FROM pg_catalog.pg_sequence s
UNION ALL
SELECT format('view %L %L', c.oid::regclass, pg_catalog.pg_get_viewdef(c.oid))
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE {_USER} AND c.relkind IN ('v', 'm')
UNION ALL
SELECT format('rule %L %L %L %L', r.ev_class::regclass, r.rulename, r.ev_enabled,
              pg_catalog.pg_get_ruledef(r.oid))
  FROM pg_catalog.pg_rewrite r
 {_of_user_relation("r.ev_class")}
UNION ALL
SELECT format('policy %L %L %L %L %L %L %L', p.polrelid::regclass, p.polname, p.polcmd,
              p.polpermissive, p.polroles, pg_catalog.pg_get_expr(p.polqual, p.polrelid),
              pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
  FROM pg_catalog.pg_policy p
UNION ALL
SELECT format('database %L %L %L %L %L %L', d.datacl, d.datconnlimit, d.datallowconn,
              d.datistemplate, d.datdba::regrole, d.dattablespace)
  FROM pg_catalog.pg_database d WHERE d.datname = current_database()
UNION ALL
SELECT format('setting %L %L', s.setrole, s.setconfig)
  FROM pg_catalog.pg_db_role_setting s
  JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
 WHERE d.datname = current_database()
UNION ALL
SELECT format('default acl %L %L %L %L', a.defaclrole::regrole, a.defaclnamespace,
              a.defaclobjtype, a.defaclacl)
  FROM pg_catalog.pg_default_acl a
UNION ALL
SELECT format('extension %L %L', e.extname, e.extversion) FROM pg_catalog.pg_extension e
UNION ALL
SELECT format('event trigger %L %L', e.evtname, e.evtenabled) FROM pg_catalog.pg_event_trigger e
UNION ALL
SELECT format('publication %L', p.pubname) FROM pg_catalog.pg_publication p
UNION ALL
SELECT format('large object %L', m.oid) FROM pg_catalog.pg_largeobject_metadata m
UNION ALL
SELECT format('prepared %L', x.gid) FROM pg_catalog.pg_prepared_xacts x
 WHERE x.database = current_database()
"""

# The tables of the public schema, and the sequences with where each stands.
_TABLES = """
SELECT c.relname FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY c.relname
"""
_SEQUENCES = """
SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), start_value, last_value
  FROM pg_catalog.pg_sequences ORDER BY 1
"""

# Relations that hold rows but are not tables whose rows `emptied` deletes: materialized views
# (their rows stay until refreshed) and foreign tables (their rows live elsewhere).
_ROWS_ELSEWHERE = f"""
SELECT count(*) FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE {_USER} AND c.relkind IN ('m', 'f')
"""

# Sessions connected to this database other than the asking one.
_OTHERS = """
SELECT count(*) FROM pg_catalog.pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
"""

# The table whose rows say which revision the database is at: kept, and compared.
_REVISION_TABLE = "alembic_version"


@dataclass(frozen=True)
class Template:
    """What a database handed back must match, and what it is set back to: the template's
    fingerprint, its tables, the rows of each table that has any (COPY's text) and where each
    sequence stands (its start, and its last value where one was drawn). `reusable`: False
    where the template has rows that deleting its tables' rows would not reach (a
    materialized view, a foreign table): none of its copies is then used again."""

    fingerprint: str
    tables: tuple[str, ...]
    rows: tuple[tuple[str, bytes], ...]
    sequences: tuple[tuple[str, int, int | None], ...]
    reusable: bool = True


def _fingerprint(connection: Any) -> str:
    lines = sorted(row[0] for row in connection.execute(_FINGERPRINT).fetchall())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _copied(connection: Any, table: str) -> bytes:
    with connection.cursor().copy(f'COPY "{table}" TO STDOUT') as copy:
        return b"".join(bytes(block) for block in copy)


def read_template(url: str) -> Template:
    """What `url` (a database migrated to head, nothing else done to it) is made of."""
    import psycopg

    with psycopg.connect(plain(url), autocommit=True) as connection:
        tables = tuple(row[0] for row in connection.execute(_TABLES).fetchall())
        rows = tuple((t, _copied(connection, t)) for t in tables)
        sequences = tuple(
            (name, int(start), None if last is None else int(last))
            for name, start, last in connection.execute(_SEQUENCES).fetchall()
        )
        elsewhere: Any = connection.execute(_ROWS_ELSEWHERE).fetchone()
        kept = tuple(r for r in rows if r[1])
        reusable = elsewhere is not None and elsewhere[0] == 0
        return Template(_fingerprint(connection), tables, kept, sequences, reusable)


def emptied(connection: Any, template: Template) -> bool:
    """Set the database of `connection` (autocommit) back to `template`'s rows and sequences,
    when nothing else of it differs from the template; False, with nothing changed, when
    something does (or when the rows cannot be deleted with triggers off: not a superuser)."""
    import psycopg

    if not template.reusable:
        return False
    others: Any = connection.execute(_OTHERS).fetchone()
    if others is None or others[0] != 0:
        return False
    if _fingerprint(connection) != template.fingerprint:
        return False
    revision = _copied(connection, _REVISION_TABLE) if _REVISION_TABLE in template.tables else b""
    if revision != dict(template.rows).get(_REVISION_TABLE, b""):
        return False
    try:
        with connection.transaction():
            # Triggers off for this transaction (the audit log's refuse deletes; foreign keys
            # need no order then): a superuser's setting, refused otherwise.
            connection.execute("SET LOCAL session_replication_role = replica")
            for table in template.tables:
                if table != _REVISION_TABLE:
                    connection.execute(f'DELETE FROM "{table}"')
            for table, data in template.rows:
                if table != _REVISION_TABLE:
                    with connection.cursor().copy(f'COPY "{table}" FROM STDIN') as copy:
                        copy.write(data)
            for name, start, last in template.sequences:
                if last is None:
                    connection.execute("SELECT setval(%s, %s, false)", (name, start))
                else:
                    connection.execute("SELECT setval(%s, %s, true)", (name, last))
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


# Per server (the URL without the database name): the template read, and the databases handed
# back emptied, waiting for the next test.
_TEMPLATES: dict[str, Template] = {}
_READY: dict[str, list[str]] = {}


def _server(url: str) -> str:
    return url.rpartition("/")[0]


def reused_postgres_db(server_url: str) -> str:
    """A database migrated to head on the server of `server_url`: one handed back by an
    earlier test and emptied, or else a new copy of the template (`migrated_postgres_db`)."""
    ready = _READY.get(_server(server_url))
    if ready:
        return ready.pop()
    url = migrated_postgres_db(server_url)
    server = _server(url)
    if server not in _TEMPLATES:
        _TEMPLATES[server] = read_template(template_url(server))
    return url


def give_back(url: str) -> None:
    """After the test: `url`'s database emptied for the next test when only its rows differ
    from the template, or else dropped (on a thread of its own)."""
    import psycopg

    server = _server(url)
    template = _TEMPLATES.get(server)
    ok = False
    if template is not None:
        try:
            with psycopg.connect(plain(url), autocommit=True) as connection:
                ok = emptied(connection, template)
        except psycopg.Error:
            ok = False
    if ok:
        _READY.setdefault(server, []).append(url)
    else:
        drop_later(f"{server}/{MAINTENANCE}", url.rpartition("/")[2])
