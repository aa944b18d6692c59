"""The command line, in-process: output, exit codes, and errors printed the slmgr way."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from openkms.cli.main import cli
from openkms.cli.slmgr import translate
from openkms.core.events import make_event
from openkms.host.state import HostState
from openkms.publisher import Publisher
from openkms.store.sqlite import SqliteStore

from helpers import Site


def run(*args: str, ok: bool = True) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if ok and result.exit_code != 0:
        raise AssertionError(f"{args} -> {result.exit_code}: {result.output}{result.stderr}")
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_vendor_init_writes_a_0600_root_key_and_a_setup_key_table(tmp_path: Path) -> None:
    run("vendor", "init", str(tmp_path / "pub"), "--name", "Example Soft")
    assert (tmp_path / "pub" / "root.key").stat().st_mode & 0o777 == 0o600
    _, out, _ = run("vendor", "setup-keys", str(tmp_path / "pub"), "--json")
    table = json.loads(out)
    assert {tuple(sorted(row)) for row in table} == {
        ("edition", "group", "n_policy", "product", "setup_key")
    }
    assert {row["group"] for row in table} == {"desktop", "A", "B", "C"}
    code, _, err = run("vendor", "init", str(tmp_path / "pub"), ok=False)
    assert code == 1 and "already holds a publisher" in err


def test_sign_catalog_names_the_bad_line(tmp_path: Path) -> None:
    run("vendor", "init", str(tmp_path / "pub"))
    catalog = tmp_path / "pub" / "catalog.toml"
    text = catalog.read_text().replace("n_policy = 5", "n_policy = -5", 1)
    catalog.write_text(text)
    code, _, err = run("vendor", "sign-catalog", str(tmp_path / "pub"), ok=False)
    assert code == 1
    assert err.startswith("Error: 0xE0040006 ") and "line " in err and "n_policy" in err


def test_host_key_limits_are_enforced(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "P")
    key = str(publisher.issue_host_key("B"))
    requests = []
    for i in range(7):
        state = HostState(tmp_path / f"h{i}", machine=f"machine-{i}")
        state.install_key(key)
        path = tmp_path / f"req{i}.json"
        path.write_bytes(state.activation_request(f"h{i}", int(time.time())))
        requests.append(path)
    for i in range(6):
        run(
            "vendor",
            "activate-host",
            str(tmp_path / "pub"),
            str(requests[i]),
            "-o",
            str(tmp_path / f"c{i}.json"),
        )
    code, _, err = run(
        "vendor",
        "activate-host",
        str(tmp_path / "pub"),
        str(requests[6]),
        "-o",
        str(tmp_path / "c.json"),
        ok=False,
    )
    assert code == 1 and "0xC004C008" in err
    for _ in range(9):
        run(
            "vendor",
            "activate-host",
            str(tmp_path / "pub"),
            str(requests[0]),
            "-o",
            str(tmp_path / "c0.json"),
        )
    code, _, err = run(
        "vendor",
        "activate-host",
        str(tmp_path / "pub"),
        str(requests[0]),
        "-o",
        str(tmp_path / "c0.json"),
        ok=False,
    )
    assert code == 1 and "0xC004C008" in err and "10 times" in err


def test_a_request_file_that_is_garbage_or_forged_is_refused(tmp_path: Path, site: Site) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\x01not json")
    code, _, err = run(
        "vendor",
        "activate-host",
        str(site.publisher.directory),
        str(garbage),
        "-o",
        str(tmp_path / "c"),
        ok=False,
    )
    assert code == 1 and "not a host activation request" in err
    request = json.loads(site.host_state.activation_request("x", int(time.time())))
    request["request"][1] = request["request"][1][:-4] + "AAA="
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(request))
    code, _, err = run(
        "vendor",
        "activate-host",
        str(site.publisher.directory),
        str(forged),
        "-o",
        str(tmp_path / "c"),
        ok=False,
    )
    assert code == 1 and "signature" in err


def test_host_dli_on_an_unactivated_host_says_so(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "P")
    store = str(tmp_path / "kms")
    run(
        "host",
        "--store",
        store,
        "ipk",
        str(publisher.issue_host_key("A")),
        "--trust",
        str(tmp_path / "pub" / "trust.json"),
    )
    _, out, _ = run("host", "--store", store, "dli")
    assert "License Status: Notification" in out and "0xC004F041" in out
    for label in (
        "Current count: 0",
        "Listening on Port: 1688",
        "DNS publishing enabled",
        "KMS priority: Normal",
    ):
        assert label in out
    _, out, _ = run("host", "--store", store, "dli", "--json")
    assert json.loads(out)["activated"] is False


def test_host_settings_and_their_ranges(site: Site) -> None:
    store = str(site.host_dir)
    run("host", "--store", store, "sai", "30")
    run("host", "--store", store, "sri", "43200")
    run("host", "--store", store, "sprt", "11688")
    run("host", "--store", store, "cdns")
    run("host", "--store", store, "cpri")
    code, _, err = run("host", "--store", store, "sai", "14", ok=False)
    assert code == 1 and "0x80070057" in err
    _, out, _ = run("host", "--store", store, "dlv")
    for label in (
        "Listening on Port: 11688",
        "DNS publishing disabled",
        "KMS priority: Low",
        "Activation interval: 30 minutes",
        "Renewal interval: 43200 minutes",
        "Total requests received: 0",
        "Requests with License Status Notification: 0",
    ):
        assert label in out
    order = [
        out.index(x)
        for x in (
            "Name:",
            "Description:",
            "Partial Product Key:",
            "License Status:",
            "Key Management Service is enabled on this machine",
            "Current count:",
            "Listening on Port:",
            "DNS publishing",
            "KMS priority:",
            "Total requests received:",
            "Failed requests received:",
            "Requests with License Status Unlicensed:",
        )
    ]
    assert order == sorted(order)


def test_client_errors_print_code_message_and_fix(tmp_path: Path, site: Site) -> None:
    store = str(tmp_path / "pc")
    code, _, err = run("client", "--store", store, "ato", ok=False)
    assert code == 1 and err.startswith("Error: 0xE0040007 ")
    trust = str(site.publisher.directory / "trust.json")
    host_key = str(site.publisher.issue_host_key("A"))
    code, _, err = run("client", "--store", store, "ipk", host_key, "--trust", trust, ok=False)
    assert code == 1 and "0xC004F050" in err and "host key" in err
    code, _, err = run(
        "client",
        "--store",
        store,
        "ipk",
        "BCDFG-HJKMP-QRTVW-XY234-6789B",
        "--trust",
        trust,
        ok=False,
    )
    assert code == 1 and "0xC004F050" in err and "mistyped" in err
    run("client", "--store", store, "ipk", site.product("Web").setup_key, "--trust", trust)
    _, out, _ = run("client", "--store", store, "dli")
    assert "License Status: Initial grace period" in out
    assert (
        "Time remaining: 43199 minute(s) (29 day(s))" in out
        or "Time remaining: 43200 minute(s) (30 day(s))" in out
    )
    assert "VOLUME_KMSCLIENT channel" in out
    run("client", "--store", store, "skms", "[::1]:1")
    code, _, err = run("client", "--store", store, "ato", ok=False)
    assert code == 1 and "0xC004F074" in err and "[::1]:1" in err


def test_a_corrupt_client_state_is_a_clear_error(tmp_path: Path) -> None:
    store = tmp_path / "pc"
    store.mkdir()
    (store / "client.json").write_bytes(b"\xff\x00{garbage")
    code, _, err = run("client", "--store", str(store), "dli", ok=False)
    assert code == 1 and err.startswith("Error: 0xE0040004 ") and "client.json is corrupt" in err
    assert "Fix: Restore" in err


def test_client_settings_commands(tmp_path: Path, site: Site) -> None:
    store = str(tmp_path / "pc")
    run(
        "client",
        "--store",
        store,
        "ipk",
        site.product("Web").setup_key,
        "--trust",
        str(site.publisher.directory / "trust.json"),
    )
    run("client", "--store", store, "skms-domain", "corp.example")
    _, out, _ = run("client", "--store", store, "skms", "kms.corp.example")
    assert "kms.corp.example:1688" in out and "Warning" in out
    run("client", "--store", store, "ckhc")
    _, out, _ = run("client", "--store", store, "dlv", "--json")
    info = json.loads(out)
    assert info["registered_kms"] == "kms.corp.example:1688" and info["host_caching"] is False
    assert info["rearms_remaining"] == 3
    run("client", "--store", store, "rearm")
    _, out, _ = run("client", "--store", store, "dlv", "--json")
    assert json.loads(out)["cmid"] != info["cmid"]
    _, out, _ = run("client", "--store", store, "xpr")
    assert "Initial grace period ends" in out
    run("client", "--store", store, "upk")
    _, out, _ = run("client", "--store", store, "dli")
    assert "0xC004F014" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/dli"], ["client", "dli"]),
        (["-DLV"], ["client", "dlv"]),
        (["/skms", "kms:1688"], ["client", "skms", "kms:1688"]),
        (["/ato"], ["client", "ato"]),
        (["/sai", "60"], ["host", "sai", "60"]),
    ],
)
def test_slmgr_spelling_is_translated(tmp_path: Path, argv: list[str], expected: list[str]) -> None:
    out = translate(argv, tmp_path)
    assert [out[0], *out[3:]] == expected and out[1:3] == ["--store", str(tmp_path)]


def test_slmgr_on_a_host_store_refuses_client_options(site: Site) -> None:
    result = CliRunner().invoke(cli, ["slmgr", "--store", str(site.host_dir), "/rearm"])
    assert result.exit_code == 1 and "applies to a client" in result.stderr
    result = CliRunner().invoke(cli, ["slmgr", "--store", str(site.host_dir), "/DLI"])
    assert (
        result.exit_code == 0
        and "Key Management Service is enabled on this machine" in result.stdout
    )


def test_host_events_export_formats(site: Site) -> None:

    async def fill() -> None:
        store = SqliteStore(site.host_dir / "host.db")
        await store.open()
        await store.log_event(make_event(12294, int(time.time()), ("corp.example",)))
        await store.log_event(make_event(12293, int(time.time()), ("0x8007232D", "corp.example")))
        await store.close()

    asyncio.run(fill())
    store = str(site.host_dir)
    _, out, _ = run("host", "--store", store, "events", "--format", "csv")
    lines = out.splitlines()
    assert lines[0] == "seq,time,event_id,level,info" and len(lines) == 3
    _, out, _ = run("host", "--store", store, "events", "--format", "json", "--id", "12293")
    events = json.loads(out)
    assert [e["event_id"] for e in events] == [12293] and events[0]["level"] == "Error"
    _, out, _ = run("host", "--store", store, "events")
    assert "Event ID:      12294" in out and "Info:\n0x8007232D,corp.example" in out


def test_a_client_state_with_a_mangled_cmid_is_a_clear_error(tmp_path: Path) -> None:
    store = tmp_path / "pc"
    store.mkdir()
    (store / "client.json").write_text('{"format": "openkms-client/1", "cmid": "not-a-uuid"}')
    code, _, err = run("client", "--store", str(store), "dli", ok=False)
    assert code == 1 and err.startswith("Error: 0xE0040004 ") and "is not a UUID" in err
    assert "Traceback" not in err
