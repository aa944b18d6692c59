"""The host's admin HTTP server: JSON API, dashboard and Prometheus metrics.

Modules (imported one by one, so that the CLI does not load the HTTP stack unless it
serves): ``config`` (AdminConfig, read_token), ``server`` (AdminServer), ``metrics``
(HostMetrics), ``host_view`` (HostView, what the host gives it), ``api``, ``views``,
``openapi``, ``exports``. It never imports ``host/``: the host passes a :class:`HostView`::

    admin = AdminServer(AdminConfig("127.0.0.1", 8080), host=view, store=store,
                        clock=time.time)
    await admin.start()          # in the host's event loop
    ...
    await admin.stop()
"""

from __future__ import annotations

__all__: list[str] = []
