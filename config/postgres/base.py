"""PostgreSQL with a bounded number of connections per process (`DB_POOL_MAX_SIZE`).

Django's own pool (`OPTIONS["pool"]`) keeps idle connections and makes a request wait up to its
timeout when PostgreSQL cannot be reached, so a database restart would cost 30-second hangs
instead of the immediate 503 "try again" page (config/db_errors.py). This backend uses
psycopg_pool's NullConnectionPool instead: every request still opens its own connection and
closes it at its end (nothing kept, as with `DB_CONN_MAX_AGE=0`), a failed connect fails at once,
but no more than `max_size` connections are open in the process at the same time; requests
beyond that wait (`timeout` seconds) for one to be returned, which is handed straight to them.

Why it is needed: under ASGI every in-flight request runs in its own thread with its own
connection, so an overloaded web process held one connection per queued request and exhausted
PostgreSQL's max_connections ("sorry, too many clients already": 503s for everyone, workers
included). Measured with bench/load.py (200 learners on 2 cores): 239-292 failed requests of
about 2,000 before, none after.
"""

from __future__ import annotations

from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not pool_options:
            return None
        if self.alias not in self._connection_pools:
            from psycopg_pool import NullConnectionPool

            connect_kwargs = self.get_connection_params()
            connect_kwargs["autocommit"] = True  # as Django's pool; Django sets it per request
            pool = NullConnectionPool(
                kwargs=connect_kwargs,
                open=False,  # opened by the first connection, not at import
                configure=self._configure_connection,
                **({} if pool_options is True else pool_options),
            )
            self._connection_pools.setdefault(self.alias, pool)
        return self._connection_pools[self.alias]
