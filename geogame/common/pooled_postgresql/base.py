"""Django's PostgreSQL backend with its connection pool ("pool" in OPTIONS, config/settings.py),
changed in one way: when a connection taken from the pool turns out dead, every idle connection is
checked at once (psycopg_pool's ConnectionPool.check) and the dead ones replaced.

Why: the pool checks each connection as it hands it out and, after a failed check, waits before
trying the next one (psycopg_pool's backoff: 1 s, then 2 s, ...). When the server drops every
connection together (a restart, a failover, pg_terminate_backend), a request would meet the dead
ones one by one and give up at GEOGAME_DB_POOL_TIMEOUT_S with a 503 while the database is up. With
the sweep it waits out one backoff step and gets a new connection
(tests/test_stack_faults.py::test_dropped_database_connections_fail_requests_with_503_and_the_stack_recovers).
"""

from functools import partial

from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base


def _check_or_sweep(pools, alias, conn):
    from psycopg_pool import ConnectionPool

    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        pools[alias].check()  # the others most likely died with it
        raise


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not pool_options:
            return None
        if self.alias not in self._connection_pools:
            # As Django's own pool property (django/db/backends/postgresql/base.py), but for `check`.
            from psycopg_pool import ConnectionPool

            connect_kwargs = self.get_connection_params()
            connect_kwargs["autocommit"] = True
            pool = ConnectionPool(
                kwargs=connect_kwargs,
                open=False,
                configure=self._configure_connection,
                check=partial(_check_or_sweep, self._connection_pools, self.alias),
                **(pool_options if isinstance(pool_options, dict) else {}),
            )
            self._connection_pools.setdefault(self.alias, pool)
        return self._connection_pools[self.alias]
