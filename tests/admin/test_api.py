"""The admin JSON API in-process: data, filters, bad parameters, exports, auth, OpenAPI."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openapi_spec_validator import validate

from admin.adminenv import TOKEN, AdminEnv, admin_env
from openkms.admin.config import AdminConfig
from openkms.admin.openapi import openapi_spec
from openkms.cli.main import cli
from openkms.core.codes import ResultCode
from openkms.core.host_settings import HostSettings
from openkms.errors import OpenKMSError
from openkms.protocol import ActivationRequest

from helpers import Site, make_site

Body = Callable[[AdminEnv], Awaitable[None]]


def run(
    site: Site,
    body: Body,
    config: AdminConfig | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    async def main() -> None:
        async with admin_env(site, config, clock) as env:
            await body(env)

    asyncio.run(main())


async def get_json(env: AdminEnv, path: str, status: int = 200, **kwargs: Any) -> Any:
    response = await env.client.get(path, **kwargs)
    assert response.status == status, await response.text()
    return await response.json()


def test_overview_counts_against_each_n_policy(site: Site) -> None:
    async def body(env: AdminEnv) -> None:
        await env.activate(site, "Standard", 6)
        overview = await get_json(env, "/api/overview")
        assert overview["current_count"] == 6
        thresholds = {t["n_policy"]: t for t in overview["thresholds"]}
        assert thresholds[5]["reached"] and thresholds[5]["missing"] == 0
        assert thresholds[5]["falls_below_at"] > overview["now"] + 29 * 86400
        assert not thresholds[25]["reached"] and thresholds[25]["missing"] == 19
        assert thresholds[25]["falls_below_at"] is None
        assert overview["certificate"]["activated"] is True
        assert overview["dns"]["state"] in ("never", "disabled")
        status = await get_json(env, "/api/status")
        assert status["current_count"] == 6 and status["total_requests"] == 6
        counters = await get_json(env, "/api/counters")
        assert counters["total"] == 6 and counters["by_status"] == {"initial_grace": 6}
        hosts = await get_json(env, "/api/hosts")  # a store of its own: no peers
        assert hosts == {"host_id": status["extended_pid"], "hosts": []}
        activity = await get_json(env, "/api/activity?days=2&bucket=hour")
        assert sum(b["succeeded"] for b in activity["buckets"]) == 6

    run(site, body)


def test_clients_paging_filter_sort(site: Site) -> None:
    async def body(env: AdminEnv) -> None:
        await env.activate(site, "Standard", 7)
        await env.activate(site, "Datacenter", 3, prefix="dc")
        page = await get_json(env, "/api/clients?limit=4&sort=machine_name&order=asc")
        assert page["total"] == 10 and page["limit"] == 4
        assert [c["machine_name"] for c in page["clients"]] == [
            "dc-000",
            "dc-001",
            "dc-002",
            "pc-000",
        ]
        page = await get_json(env, "/api/clients?limit=4&offset=8&sort=machine_name&order=asc")
        assert [c["machine_name"] for c in page["clients"]] == ["pc-005", "pc-006"]
        assert page["next"] is None
        # Keyset pages: each page's next cursor gives the following one.
        names, after = [], ""
        for _ in range(3):
            page = await get_json(env, f"/api/clients?limit=4&sort=machine_name&order=asc{after}")
            assert page["total"] == 10
            names += [c["machine_name"] for c in page["clients"]]
            after = f"&after={page['next']}" if page["next"] else ""
        assert not after and names[-2:] == ["pc-005", "pc-006"] and len(set(names)) == 10
        product = site.product("Datacenter").activation_id
        page = await get_json(env, f"/api/clients?product={product}")
        assert page["total"] == 3
        assert page["clients"][0]["product"] == "Acme Server, Datacenter"
        assert (await get_json(env, "/api/clients?q=PC-00"))["total"] == 7
        assert (await get_json(env, "/api/clients?state=initial_grace"))["total"] == 10
        assert (await get_json(env, "/api/clients?state=licensed"))["total"] == 0
        assert (await get_json(env, "/api/clients?seen_since=2000-01-01"))["total"] == 10
        assert (await get_json(env, "/api/clients?seen_before=2000-01-01T00:00Z"))["total"] == 0
        products = await get_json(env, "/api/products")
        by_edition = {p["edition"]: p for p in products["products"]}
        assert by_edition["Datacenter"]["clients"] == 3 and by_edition["Datacenter"]["covered"]
        assert [g["name"] for g in products["groups"]] == ["desktop", "A", "B", "C"]

    run(site, body)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("sort=password", "sort"),
        ("order=up", "order"),
        ("state=happy", "state"),
        ("seen_since=yesterday", "seen_since"),
        ("seen_since=200&seen_before=100", "seen_before"),
        ("colour=red", "colour"),
        ("after=bm90LWEtY3Vyc29y", "after"),
        ("after=!!!", "after"),
        ("after=" + "A" * 2000, "after"),
        # A cursor of sort=last_seen (the default) given with another sort.
        ("after=WyJsYXN0X3NlZW4iLHRydWUsMSwiYSIsImIiXQ&sort=cmid", "after"),
        ("after=WyJsYXN0X3NlZW4iLHRydWUsMSwiYSIsImIiXQ&offset=5", "after"),
        ("after=WyJsYXN0X3NlZW4iLHRydWUsIngiLCJhIiwiYiJd", "after"),
    ],
)
def test_clients_bad_parameters_are_clear_400s(site: Site, query: str, parameter: str) -> None:
    async def body(env: AdminEnv) -> None:
        error = (await get_json(env, f"/api/clients?{query}", 400))["error"]
        assert error["code"] == "bad_parameter"
        assert error["parameter"] == parameter
        assert parameter in error["message"]

    run(site, body)


def test_events_filters_and_cursor(site: Site) -> None:
    async def body(env: AdminEnv) -> None:
        await env.activate(site, "Standard", 5)
        await env.app.store.log_event(
            __import__("openkms.core.events", fromlist=["make_event"]).make_event(
                12293, 1_800_000_000, ["0x8007232B", "example.test"]
            )
        )
        first = await get_json(env, "/api/events?limit=2&id=12290")
        assert len(first["events"]) == 2 and first["next"]
        rest = await get_json(env, f"/api/events?limit=10&id=12290&before={first['next']}")
        assert len(rest["events"]) == 3 and rest["next"] is None
        dns = await get_json(env, "/api/events?id=12293,12294")
        assert [e["fields"]["domain"] for e in dns["events"]] == ["example.test"]
        assert (await get_json(env, "/api/events?failed=true"))["events"] == []
        cmid = first["events"][0]["fields"]["cmid"]
        assert len((await get_json(env, f"/api/events?cmid={cmid}"))["events"]) == 1
        window = await get_json(env, "/api/events?since=2027-01-01&until=2027-02-01")
        assert [e["event_id"] for e in window["events"]] == [12293]
        for query, parameter in [
            ("before=abc", "before"),
            ("id=x", "id"),
            ("failed=maybe", "failed"),
            ("since=2030-01-01&until=2020-01-01", "until"),
            ("limit=100000", "limit"),
        ]:
            error = (await get_json(env, f"/api/events?{query}", 400))["error"]
            assert error["parameter"] == parameter
        dns_status = await get_json(env, "/api/dns")
        assert (
            dns_status["state"] == "failing" and dns_status["last_failure_hresult"] == "0x8007232B"
        )

    run(site, body)


def test_client_state_is_what_the_host_derives_not_what_the_client_reported(
    site: Site,
) -> None:
    moved = [0]  # seconds the admin server's clock runs ahead

    async def body(env: AdminEnv) -> None:
        await env.activate(site, "Standard", 5)  # only the fifth reaches N = 5: a ticket
        query = "/api/clients?sort=machine_name&order=asc"
        page = await get_json(env, query)
        assert [(c["state"], c["license_status_name"]) for c in page["clients"]] == [
            ("grace", "initial_grace")
        ] * 4 + [("licensed", "initial_grace")]
        fifth = page["clients"][4]
        assert fifth["state_until"] == fifth["last_activated"] + 180 * 86400
        moved[0] = 181 * 86400
        page = await get_json(env, query)
        assert [c["state_label"] for c in page["clients"]] == ["Notification"] * 4 + ["Expired"]
        assert page["now"] >= fifth["last_seen"] + 181 * 86400
        export = "/api/clients/export?format=csv&sort=machine_name&order=asc"
        text = await (await env.client.get(export)).text()
        rows = list(csv.DictReader(io.StringIO(text)))
        assert (rows[4]["state"], rows[4]["reported_status"]) == ("Expired", "Initial grace period")
        assert rows[4]["last_seen"].endswith("Z") and rows[4]["state_until"].endswith("Z")

    run(site, body, clock=lambda: time.time() + moved[0])


def test_exports_csv_and_json(site: Site) -> None:
    async def body(env: AdminEnv) -> None:
        await env.activate(site, "Standard", 3)
        response = await env.client.get(
            "/api/clients/export?format=csv&sort=machine_name&order=asc"
        )
        assert response.status == 200 and response.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await response.text())))
        assert [r["machine_name"] for r in rows] == ["pc-000", "pc-001", "pc-002"]
        clients = json.loads(await (await env.client.get("/api/clients/export?format=json")).text())
        assert len(clients) == 3 and clients[0]["product"] == "Acme Server, Standard"
        events = json.loads(await (await env.client.get("/api/events/export?format=json")).text())
        assert [e["event_id"] for e in events] == [12290] * 3
        text = await (await env.client.get("/api/events/export?format=csv&id=12290")).text()
        assert (
            text.splitlines()[0] == "seq,time,event_id,level,info" and len(text.splitlines()) == 4
        )
        error = (await get_json(env, "/api/events/export?format=xml", 400))["error"]
        assert error["parameter"] == "format"

    run(site, body)


def test_changes_need_a_configured_token(site: Site) -> None:
    async def body(env: AdminEnv) -> None:
        assert (await get_json(env, "/api/settings"))["renewal_interval"] == 10080
        response = await env.client.patch("/api/settings", json={"renewal_interval": 60})
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "changes_disabled"
        assert (await env.client.delete("/api/clients/x")).status == 403

    run(site, body)


def test_changes_with_token_on_loopback(site: Site) -> None:
    good = {"Authorization": f"Bearer {TOKEN}"}

    async def body(env: AdminEnv) -> None:
        await env.activate(site, "Standard", 5)
        assert (await env.client.get("/api/overview")).status == 200  # reads stay open
        missing = await env.client.patch("/api/settings", json={"renewal_interval": 60})
        assert missing.status == 401 and "Bearer" in missing.headers["WWW-Authenticate"]
        wrong = await env.client.patch(
            "/api/settings", json={"renewal_interval": 60}, headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status == 401
        assert (await wrong.json())["error"]["code"] == "invalid_token"
        changed = await env.client.patch(
            "/api/settings",
            json={
                "renewal_interval": 60,
                "activation_interval": 30,
                "dns_publishing": False,
                "port": 1700,
            },
            headers=good,
        )
        assert changed.status == 200, await changed.text()
        view = await changed.json()
        assert view["restart_required"] is True and view["port"] == 1700
        assert site.host_state.settings.renewal_interval == 60
        assert env.app.service is not None and env.app.service.settings.activation_interval == 30
        bad = await env.client.patch("/api/settings", json={"renewal_interval": 5}, headers=good)
        assert bad.status == 400 and (await bad.json())["error"]["parameter"] == "renewal_interval"
        unknown = await env.client.patch("/api/settings", json={"colour": 1}, headers=good)
        assert unknown.status == 400
        garbage = await env.client.patch("/api/settings", data=b"{", headers=good)
        assert garbage.status == 400
        clients = await get_json(env, "/api/clients")
        cmid = clients["clients"][0]["cmid"]
        forgotten = await env.client.delete(f"/api/clients/{cmid}", headers=good)
        assert forgotten.status == 200
        assert (await forgotten.json())["current_count"] == 4
        assert (await env.client.delete(f"/api/clients/{cmid}", headers=good)).status == 404
        assert TOKEN not in env.app.state.directory.joinpath("host.json").read_text()

    run(site, body, AdminConfig(token=TOKEN))


def test_off_loopback_everything_needs_the_token(site: Site) -> None:
    async def body(env: AdminEnv) -> None:
        for path in ("/api/overview", "/metrics", "/openapi.json"):
            assert (await env.client.get(path)).status == 401
        page = await env.client.get("/clients", allow_redirects=False)
        assert page.status == 303 and page.headers["Location"].startswith("/login")
        assert (await env.client.get("/login")).status == 200
        assert (
            await env.client.get("/api/overview", headers={"Authorization": "Bearer x"})
        ).status == 401
        ok = await env.client.get("/api/overview", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status == 200
        failed = await env.client.post("/login", data={"token": "wrong"}, allow_redirects=False)
        assert failed.status == 303 and "failed=1" in failed.headers["Location"]
        login = await env.client.post(
            "/login", data={"token": TOKEN, "next": "/clients"}, allow_redirects=False
        )
        assert login.status == 303 and login.headers["Location"] == "/clients"
        assert (await env.client.get("/clients")).status == 200  # the cookie now
        assert (await env.client.get("/api/overview")).status == 200

    run(site, body, AdminConfig(host="192.0.2.10", token=TOKEN))


def test_config_refuses_non_loopback_without_token() -> None:
    with pytest.raises(OpenKMSError, match="not loopback") as info:
        AdminConfig(host="0.0.0.0")
    assert "--admin-token-file" in (info.value.fix or "")
    with pytest.raises(OpenKMSError, match="too short"):
        AdminConfig(token="short")
    assert AdminConfig(host="::1").loopback and AdminConfig(host="localhost").loopback
    assert "s3cret" not in repr(AdminConfig(token=TOKEN))


def test_metrics_in_prometheus_format(tmp_path: Path) -> None:
    site = make_site(tmp_path, "B")  # a group-B host cannot activate Datacenter

    async def body(env: AdminEnv) -> None:
        await env.activate(site, "Standard", 5)
        await env.activate(site, "Datacenter", 1, prefix="dc")
        response = await env.client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
        # Five Standard clients (N-policy 5): only the fifth is activated, the four before
        # it were accepted but counted below N.
        assert 'openkms_activations_total{result="0x0"} 1' in text
        assert 'openkms_activations_total{result="0xC004F038"} 4' in text
        assert 'openkms_activations_total{result="0xC004F042"} 1' in text
        assert 'openkms_requests_total{license_status="initial_grace"} 6' in text
        assert 'openkms_request_duration_seconds_bucket{le="+Inf"} 6' in text
        assert "openkms_request_duration_seconds_count 6" in text
        assert "openkms_store_write_duration_seconds_sum" in text
        assert "openkms_current_count{application_id=" in text and "} 5\n" in text
        assert "openkms_dns_publishing_enabled 1" in text
        assert "openkms_host_activated 1" in text
        for line in text.splitlines():
            assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2

    run(site, body)


def test_openapi_spec_is_valid_and_served(site: Site) -> None:
    validate(openapi_spec())

    async def body(env: AdminEnv) -> None:
        spec = await get_json(env, "/openapi.json")
        assert "/api/clients" in spec["paths"] and "ClientList" in spec["components"]["schemas"]
        assert (await env.client.get("/api/nope")).status == 404
        assert (await get_json(env, "/api/nope", 404))["error"]["status"] == 404
        for page in ("/", "/clients", "/events", "/static/app.js", "/static/style.css"):
            assert (await env.client.get(page)).status == 200

    run(site, body)


@pytest.mark.parametrize(
    ("command", "change"),
    [
        (["sprt", "0"], {"port": 0}),
        (["sprt", "70000"], {"port": 70000}),
        (["sai", "14"], {"activation_interval": 14}),
        (["sri", "43201"], {"renewal_interval": 43201}),
    ],
)
def test_the_cli_and_the_api_refuse_a_bad_setting_alike(
    site: Site, command: list[str], change: dict[str, int]
) -> None:
    result = CliRunner().invoke(cli, ["host", "--store", str(site.host_dir), *command])
    assert result.exit_code == 1
    cli_lines = result.stderr.splitlines()
    good = {"Authorization": f"Bearer {TOKEN}"}

    async def body(env: AdminEnv) -> None:
        response = await env.client.patch("/api/settings", json=change, headers=good)
        assert response.status == 400
        error = (await response.json())["error"]
        assert error["parameter"] == next(iter(change))
        assert cli_lines == [f"Error: 0x80070057 {error['message']}", f"Fix: {error['fix']}"]

    run(site, body, AdminConfig(token=TOKEN))
    assert site.host_state.settings == HostSettings()


def test_the_api_refuses_settings_it_does_not_change_with_a_fix(site: Site) -> None:
    good = {"Authorization": f"Bearer {TOKEN}"}

    async def body(env: AdminEnv) -> None:
        response = await env.client.patch("/api/settings", json={"dns_ttl": 60}, headers=good)
        error = (await response.json())["error"]
        assert response.status == 400 and error["parameter"] == "dns_ttl"
        assert "dns-config" in error["fix"]
        empty = await env.client.patch("/api/settings", json={}, headers=good)
        assert empty.status == 400 and (await empty.json())["error"]["parameter"] == "body"
        wrong_type = await env.client.patch("/api/settings", json={"port": "80"}, headers=good)
        assert (await wrong_type.json())["error"][
            "message"
        ] == "port must be a whole number, got '80'"

    run(site, body, AdminConfig(token=TOKEN))


def test_thirty_thousand_distinct_bad_values_add_no_metric_series(site: Site) -> None:
    async def bad_requests(env: AdminEnv, values: range) -> None:
        service = env.app.service
        assert service is not None
        product = site.product("Standard")
        catalog = site.publisher.trust().catalog
        requests = [
            ActivationRequest(
                os.urandom(16),
                catalog.application_id,
                product.activation_id,
                os.urandom(16),
                "bad",
                int(time.time()),
                value,  # a license status no client has
                43200,
                product.n_policy,
            )
            for value in values
        ]
        for start in range(0, len(requests), 2000):
            answers = await asyncio.gather(
                *(service.handle(r, 1688) for r in requests[start : start + 2000])
            )
            assert all(getattr(a, "result", 0) == ResultCode.REQUEST_INVALID for a in answers)

    async def body(env: AdminEnv) -> None:
        await env.activate(site, "Standard", 3)
        await bad_requests(env, range(1000, 1010))
        before = await (await env.client.get("/metrics")).text()
        await bad_requests(env, range(10**12, 10**12 + 30_000))
        after = await (await env.client.get("/metrics")).text()
        assert len(after.splitlines()) == len(before.splitlines())
        assert len(after) - len(before) < 200  # only counts grew a few digits
        assert 'license_status="invalid"} 30010' in after
        counters = await get_json(env, "/api/counters")
        assert set(counters["by_status"]) == {"initial_grace", "invalid"}
        assert counters["by_status"]["invalid"] == 30_010

    run(site, body)


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:8080", 200),
        ("localhost:8080", 200),
        ("[::1]:8080", 200),
        ("dashboard.example.test", 200),  # configured
        ("attacker.example:8080", 421),  # DNS rebinding: another site's name
        ("192.0.2.7", 421),  # an IP address of another machine, on a loopback server
    ],
)
def test_the_api_answers_only_loopback_and_configured_host_names(
    site: Site, host: str, status: int
) -> None:
    async def body(env: AdminEnv) -> None:
        response = await env.client.get("/api/clients", headers={"Host": host})
        assert response.status == status
        if status == 421:
            assert (await response.json())["error"]["code"] == "misdirected_request"

    run(site, body, AdminConfig(allowed_hosts=("dashboard.example.test",)))


def test_changes_from_another_origin_are_refused(site: Site) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def body(env: AdminEnv) -> None:
        evil = {**auth, "Origin": "http://attacker.example"}
        response = await env.client.patch(
            "/api/settings", json={"renewal_interval": 60}, headers=evil
        )
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "bad_origin"
        null = {**auth, "Origin": "null"}
        assert (await env.client.delete("/api/clients/x", headers=null)).status == 403
        same = {**auth, "Origin": "http://127.0.0.1:8080"}
        response = await env.client.patch(
            "/api/settings", json={"renewal_interval": 60}, headers=same
        )
        assert response.status == 200

    run(site, body, AdminConfig(token=TOKEN))


def test_csv_exports_neutralise_formulas(site: Site) -> None:
    async def body(env: AdminEnv) -> None:
        await env.activate(site, "Standard", 1, prefix="=cmd|' /C calc'!A0")
        await env.activate(site, "Standard", 1, prefix="@SUM(1)", start=1)
        await env.activate(site, "Standard", 1, prefix="\tTAB", start=2)
        text = await (await env.client.get("/api/clients/export?format=csv")).text()
        names = sorted(row["machine_name"] for row in csv.DictReader(io.StringIO(text)))
        assert names == ["'\tTAB-002", "'=cmd|' /C calc'!A0-000", "'@SUM(1)-001"]
        events = await (await env.client.get("/api/events/export?format=csv")).text()
        cells = [cell for row in csv.reader(io.StringIO(events)) for cell in row]
        assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]

    run(site, body)


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/events?since=" + "1" + "0" * 20, "since"),
        ("/api/events?id=1" + "0" * 30, "id"),
        ("/api/events?until=-5", "until"),
        ("/api/events?before=1" + "0" * 25 + ":1", "before"),
        ("/api/events?since=" + "9" * 5000, "since"),
        ("/api/clients?seen_since=99999-01-01", "seen_since"),
        ("/api/clients?offset=1" + "0" * 40, "offset"),
        ("/api/clients?state=%C2%B2", "state"),
        ("/api/events/export?format=csv&since=1" + "0" * 20, "since"),
    ],
)
def test_out_of_range_parameters_are_400s_naming_the_range(
    site: Site, path: str, parameter: str
) -> None:
    async def body(env: AdminEnv) -> None:
        error = (await get_json(env, path, 400))["error"]
        assert error["code"] == "bad_parameter" and error["parameter"] == parameter

    run(site, body)
