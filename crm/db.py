"""Read PostgreSQL timestamps with psycopg's compiled parser.

Django 5.2 gives every psycopg connection its own timestamptz loader, derived from
psycopg's pure-Python one (Django ticket #36960: psycopg's compiled loader cannot
be subclassed), so each timestamp is parsed by a regular expression in Python. A
counselor's queue reads about 1,400 timestamps per refresh, every 3 seconds, and
parsing them was a tenth of its server time. The loader here keeps Django's
contract (the class names its time zone, which Django checks per cursor, and the
value gets that zone) and hands the parsing to the compiled loader when psycopg
has one.
"""

from datetime import tzinfo
from functools import lru_cache

from django.db.backends.signals import connection_created


@lru_cache
def compiled_tz_loader(timezone: tzinfo | None) -> type:
    """A timestamptz loader for `timezone` that parses with psycopg's C code."""
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader
    from psycopg import adapters
    from psycopg.pq import Format

    class CompiledTzLoader(BaseTzLoader):
        def __init__(self, oid: int, context=None):
            super().__init__(oid, context)
            # The global map hands out the compiled class when psycopg has one
            # (psycopg[binary] or [c]), and the Python class otherwise.
            parser = adapters.get_loader(oid, Format.TEXT)
            self._parse = parser(oid, context).load

        def load(self, data: bytes):
            return self._parse(data).replace(tzinfo=self.timezone)

    CompiledTzLoader.timezone = timezone
    return CompiledTzLoader


def use_compiled_tz_loader(sender: type, connection, **kwargs) -> None:
    """On each new PostgreSQL connection, replace Django's timestamptz loader."""
    if connection.vendor != "postgresql":
        return
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    if not is_psycopg3:
        return
    connection.connection.adapters.register_loader(
        "timestamptz", compiled_tz_loader(connection.timezone)
    )


def install() -> None:
    connection_created.connect(
        use_compiled_tz_loader, dispatch_uid="crm.db.use_compiled_tz_loader"
    )
