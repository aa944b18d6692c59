"""The host's admin HTTP server: JSON API, dashboard and Prometheus metrics.

Modules (imported one by one, so that the CLI does not load the HTTP stack unless it
serves): ``config`` (AdminConfig, read_token), ``server`` (AdminServer), ``metrics``
(HostMetrics), ``api``, ``views``, ``openapi``, ``exports``::

    admin = AdminServer(AdminConfig("127.0.0.1", 8080), state=state, store=store,
                        host_id=state.host_id, clock=time.time)
    await admin.start()          # in the host's event loop
    ...
    await admin.stop()
"""

from __future__ import annotations

__all__: list[str] = []
