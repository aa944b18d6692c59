"""slmgr parity and help: /? and every --help without a store, /dlv all, /xpr and /upk on a host,
/cpky on a host and a client, fixes that fit their errors, and 'count N of M' in 0xC004F038."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from openkms.cli.main import cli
from openkms.client.api import Client
from openkms.publisher import Publisher
from openkms.publisher.phone import confirm_installation

from helpers import Site, host_process, openkms_cmd


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner(env={"OPENKMS_STORE": None}).invoke(cli, list(args))
    assert "Traceback" not in result.output + result.stderr, result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


@pytest.mark.parametrize("path", list(command_paths(cli)), ids=" ".join)
def test_every_help_works_without_a_store(path: tuple[str, ...]) -> None:
    code, out, err = invoke(*path, "--help")
    assert code == 0, err
    assert out.startswith("Usage: ")


def test_commands_that_need_a_store_say_how_to_give_it() -> None:
    for role in ("host", "client"):
        code, _, err = invoke(role, "dli")
        assert code == 1
        assert "no store directory was given" in err
        assert f"Fix: Give it before the command: 'openkms {role} --store DIR COMMAND'" in err


def test_slmgr_help_needs_no_store() -> None:
    for spelling in ("/?", "-?", "/help"):
        code, out, _ = invoke("slmgr", spelling)
        assert code == 0 and "/dlv [all]" in out and "/xpr" in out
    code, _, err = invoke("slmgr", "/dli")
    assert code == 1 and "Fix: Give it as 'slmgr --store DIR /OPTION'" in err
    code, _, err = invoke("slmgr", "--store", "/nonexistent", "/frobnicate")
    assert code == 1 and "Fix: Run 'slmgr /?' for the options." in err


def test_slmgr_on_a_host_dlv_all_xpr_and_upk(site: Site) -> None:
    store = str(site.host_dir)
    code, out, _ = invoke("slmgr", "--store", store, "/dlv", "all")
    assert code == 0 and "License Status: Licensed" in out
    code, out, _ = invoke("slmgr", "--store", store, "/xpr")
    assert code == 0
    assert "KMS host" in out and "Volume activation will expire" in out
    code, out, _ = invoke("slmgr", "--store", store, "/upk")
    assert code == 0 and out.strip() == "Uninstalled product key successfully."
    assert (site.host_dir / "host.key").exists()  # the identity stays
    assert not (site.host_dir / "certificate.json").exists()
    code, _, err = invoke("slmgr", "--store", store, "/dli")
    assert code == 1 and "0xC004F014" in err
    code, _, err = invoke("slmgr", "--store", store, "/upk")
    assert code == 1 and "0xC004F014" in err


def test_an_unknown_license_group_gets_a_fix_about_groups(tmp_path: Path) -> None:
    invoke("publisher", "init", str(tmp_path / "pub"))
    code, _, err = invoke("publisher", "issue-host-key", str(tmp_path / "pub"), "--group", "Z")
    assert code == 1
    assert "license group 'Z' is not in the catalog" in err
    assert "Fix: Give one of the catalog's license groups" in err


def test_count_too_low_says_count_n_of_m(site: Site, tmp_path: Path) -> None:
    store, trust = str(tmp_path / "client"), str(tmp_path / "trust.json")
    Path(trust).write_bytes(site.publisher.trust().to_json())
    with host_process(site.host_dir) as host:
        base = ["client", "--store", store]
        invoke(*base, "ipk", site.product("Standard").setup_key, "--trust", trust)
        invoke(*base, "skms", host.address)
        result = subprocess.run(
            openkms_cmd(*base, "ato"), capture_output=True, text=True, check=False
        )
    assert result.returncode == 1
    assert "0xC004F038" in result.stderr + result.stdout
    assert "count 1 of 5" in result.stderr + result.stdout


def files_holding(directory: Path, *needles: str) -> list[str]:
    """The files under ``directory`` whose bytes contain one of ``needles``."""
    return sorted(
        str(path.relative_to(directory))
        for path in directory.rglob("*")
        if path.is_file() and any(n.encode() in path.read_bytes() for n in needles)
    )


def test_cpky_on_a_host_clears_the_key_text_and_keeps_the_activation(
    site: Site, tmp_path: Path
) -> None:
    store = str(site.host_dir)
    installed = site.host_state.host_key()
    assert installed is not None and installed.key is not None
    key = installed.key
    assert files_holding(site.host_dir, key.symbols, str(key)) == ["host.json"]
    code, out, _ = invoke("slmgr", "--store", store, "/cpky")
    assert code == 0 and out.strip() == "Product key from registry cleared successfully."
    assert files_holding(site.host_dir, key.symbols, str(key)) == []
    code, out, _ = invoke("host", "--store", store, "dli")
    assert code == 0 and f"Partial Product Key: {key.partial}" in out
    assert "License Status: Licensed" in out  # the certificate stays
    code, _, err = invoke(
        "host", "--store", store, "activation-request", "-o", str(tmp_path / "r.json")
    )
    assert code == 1 and "0xC004F014" in err and "cleared from this machine ('cpky')" in err
    assert "Fix: Install the same key again with 'openkms host --store DIR ipk" in err
    assert invoke("host", "--store", store, "cpky")[0] == 0  # again: nothing left to clear
    assert invoke("host", "--store", store, "ipk", str(key))[0] == 0
    assert (site.host_dir / "certificate.json").exists()  # the same key: still activated
    code, _, _ = invoke("host", "--store", store, "activation-request", "-o", str(tmp_path / "r"))
    assert code == 0
    invoke("host", "--store", store, "upk")
    code, _, err = invoke("host", "--store", store, "cpky")
    assert code == 1 and "0xC004F014" in err


def test_cpky_on_a_client_clears_the_key_text_and_keeps_the_product(
    site: Site, tmp_path: Path
) -> None:
    client_dir, trust = tmp_path / "client", tmp_path / "trust.json"
    trust.write_bytes(site.publisher.trust().to_json())
    key = site.product("Standard").setup_key
    dashed = "-".join(key[i : i + 5] for i in range(0, 25, 5))
    base = ["client", "--store", str(client_dir)]
    code, _, err = invoke(*base, "cpky")
    assert code == 1 and "0xC004F014" in err  # no key installed yet
    invoke(*base, "ipk", key, "--trust", str(trust))
    assert files_holding(client_dir, key, dashed) == ["client.json"]
    assert invoke("host", "--store", str(site.host_dir), "cpky")[0] == 0  # it serves on
    with host_process(site.host_dir) as host:
        invoke(*base, "skms", host.address)
        code, out, _ = invoke("slmgr", "--store", str(client_dir), "/cpky")
        assert code == 0 and out.strip() == "Product key from registry cleared successfully."
        assert files_holding(client_dir, key, dashed) == []
        code, out, _ = invoke(*base, "dli")
        assert code == 0 and f"Partial Product Key: {key[-5:]}" in out
        assert "Initial grace period" in out
        # Still a client of its product: it asks the host, which counts it (1 of 5).
        result = subprocess.run(
            openkms_cmd(*base, "ato"), capture_output=True, text=True, check=False
        )
    assert "count 1 of 5" in result.stdout + result.stderr
    assert files_holding(client_dir, key, dashed) == []  # events and state after ato too


def test_cpky_keeps_a_mak_s_phone_activation_and_its_installation_id(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "Phone Client")
    product = publisher.trust().catalog.products[0]
    mak, _ = publisher.issue_mak(product.activation_id, 5)
    client = Client.open(tmp_path / "pc")
    client.install_key(str(mak), publisher.trust())
    iid = str(client.installation_id())
    client.install_confirmation(confirm_installation(publisher, iid).confirmation_id)
    base = ["client", "--store", str(tmp_path / "pc")]
    code, out, _ = invoke(*base, "cpky")
    assert code == 0 and out.strip() == "Product key from registry cleared successfully."
    assert files_holding(tmp_path / "pc", mak.symbols, str(mak)) == []
    assert client.license().licensed  # the phone ticket still verifies
    assert str(client.installation_id()) == iid
    code, out, _ = invoke(*base, "dli")
    assert "VOLUME_MAK channel" in out and f"Partial Product Key: {mak.partial}" in out
    client.install_key(str(mak))  # the same MAK again: the phone activation stays
    assert client.license().licensed


def test_after_cpky_a_host_s_phone_activation_asks_for_the_key(site: Site) -> None:
    store = str(site.host_dir)
    assert invoke("host", "--store", store, "cpky")[0] == 0
    code, _, err = invoke("host", "--store", store, "dti")
    assert code == 1 and "0xC004F014" in err and "phone activation needs the whole key" in err
