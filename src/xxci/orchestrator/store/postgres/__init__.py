"""The PostgreSQL backend of the storage port (:mod:`xxci.orchestrator.store.ports`):
every store in one database that several orchestrators share.

Through psycopg 3 (async, typed, LISTEN/NOTIFY built in); imported only when a
``postgresql://`` store is asked for.
"""

from xxci.orchestrator.store.postgres.blob_store import PgBlobStore
from xxci.orchestrator.store.postgres.event_store import PgEventStore
from xxci.orchestrator.store.postgres.identity_store import PgIdentityStore
from xxci.orchestrator.store.postgres.log_store import PgLogStore
from xxci.orchestrator.store.postgres.membership import PgMembership
from xxci.orchestrator.store.postgres.report_cache import PgReportCache

__all__ = [
    "PgBlobStore",
    "PgEventStore",
    "PgIdentityStore",
    "PgLogStore",
    "PgMembership",
    "PgReportCache",
]
