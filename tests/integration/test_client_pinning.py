"""The application pins its publisher: trust, catalog, certificate or ticket of another key
never licenses; the CLI pins the publisher at the first ``ipk --trust``; a catalog from the
same publisher replaces the pinned one only if its serial is higher."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from openkms.cli.main import cli
from openkms.client.api import Client
from openkms.client.transport import MemoryTransport
from openkms.core.codes import ResultCode
from openkms.core.license import LicenseState
from openkms.core.trust import Trust, format_publisher_key, parse_publisher_key
from openkms.errors import OpenKMSError
from openkms.host.service import HostService
from openkms.host.state import HostState
from openkms.publisher import Publisher
from openkms.store.memory import MemoryStore

from helpers import Site


def _rogue_site(root: Path, genuine: Site) -> tuple[Publisher, HostService]:
    """Another publisher whose catalog copies the genuine one with every N-policy at 1."""
    rogue = Publisher.init(root / "rogue", "Rogue")
    text = (genuine.publisher.directory / "catalog.toml").read_text()
    (rogue.directory / "catalog.toml").write_text(re.sub(r"n_policy = \d+", "n_policy = 1", text))
    rogue.sign_catalog()
    state = HostState(root / "rogue-host")
    state.install_key(str(rogue.issue_host_key("C")), rogue.trust())
    now = int(time.time())
    state.install_certificate(rogue.activate_host(state.activation_request("r", now)), now)
    store = MemoryStore()
    asyncio.run(store.open())
    service = HostService(
        store=store,
        activation=state.activation(now),
        private_key=state.private_key(),
        host_settings=state.settings,
        host_id=state.host_id,
        clock=time.time,
    )
    return rogue, service


def _attack(tmp_path: Path, site: Site) -> Path:
    """A store installed with the genuine trust, then another publisher's trust.json copied
    over it and the machine activated against that publisher's host (N=1)."""
    rogue, service = _rogue_site(tmp_path, site)
    transport = MemoryTransport({("rogue.test", 1688): service.handle})
    directory = tmp_path / "pc"
    client = Client.open(directory, transport=transport, machine_name="pc")
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    shutil.copy(rogue.directory / "trust.json", directory / "trust.json")
    client.set_kms("rogue.test")
    with contextlib.suppress(OpenKMSError):  # fixed code: refused, 0xE0040021
        client.activate()
    return directory


def test_a_copied_trust_of_another_publisher_never_licenses_the_pinned_application(
    tmp_path: Path, site: Site
) -> None:
    directory = _attack(tmp_path, site)
    key = format_publisher_key(site.publisher.trust().publisher_key)
    # The README's embedding example, pinned form.
    license = Client.open(directory, publisher_key=key).license()
    assert license.state is not LicenseState.LICENSED
    assert license.state is LicenseState.NOTIFICATION
    assert license.reason is ResultCode.PUBLISHER_MISMATCH


def test_a_copied_trust_never_licenses_even_without_the_application_pin(
    tmp_path: Path, site: Site
) -> None:
    directory = _attack(tmp_path, site)
    license = Client.open(directory).license()  # the store remembers its publisher (sealed)
    assert license.state is LicenseState.NOTIFICATION
    assert license.reason is ResultCode.PUBLISHER_MISMATCH


def test_ipk_with_another_publishers_trust_is_refused(tmp_path: Path, site: Site) -> None:
    rogue, _ = _rogue_site(tmp_path, site)
    client = Client.open(tmp_path / "pc", machine_name="pc")
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    pinned = (tmp_path / "pc" / "trust.json").read_bytes()
    with pytest.raises(OpenKMSError) as caught:
        client.install_key(site.product("Standard").setup_key, rogue.trust())
    assert caught.value.code is ResultCode.PUBLISHER_MISMATCH
    assert "trust.json" in caught.value.fix
    assert (tmp_path / "pc" / "trust.json").read_bytes() == pinned


def test_the_application_pin_refuses_another_publisher_at_the_first_ipk(
    tmp_path: Path, site: Site
) -> None:
    rogue, _ = _rogue_site(tmp_path, site)
    key = format_publisher_key(site.publisher.trust().publisher_key)
    client = Client.open(tmp_path / "pc", machine_name="pc", publisher_key=key)
    with pytest.raises(OpenKMSError) as caught:
        client.install_key(site.product("Standard").setup_key, rogue.trust())
    assert caught.value.code is ResultCode.PUBLISHER_MISMATCH
    assert not (tmp_path / "pc" / "trust.json").exists()
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    assert client.license().state is LicenseState.INITIAL_GRACE


def test_a_malformed_publisher_key_is_refused_when_the_client_opens(tmp_path: Path) -> None:
    with pytest.raises(OpenKMSError) as caught:
        Client.open(tmp_path / "pc", publisher_key="okpk1:not-a-key")
    assert caught.value.code is ResultCode.INVALID_ARGUMENT


def test_publisher_key_text_round_trips(site: Site) -> None:
    raw = site.publisher.trust().publisher_key
    text = format_publisher_key(raw)
    assert text.startswith("okpk1:") and len(text) == 6 + 43
    assert parse_publisher_key(text) == raw
    assert parse_publisher_key(f"  {text}\n") == raw
    assert site.publisher.public_key_text() == text


def test_a_newer_catalog_replaces_the_pinned_one_only_with_a_higher_serial(
    tmp_path: Path, site: Site
) -> None:
    old = site.publisher.trust()
    new = site.publisher.sign_catalog()
    assert new.catalog.serial == old.catalog.serial + 1
    client = Client.open(tmp_path / "pc", machine_name="pc")
    client.install_key(site.product("Standard").setup_key, old)
    client.install_key(site.product("Standard").setup_key, new)
    assert client.trust() == new
    with pytest.raises(OpenKMSError) as caught:
        client.install_key(site.product("Standard").setup_key, old)
    assert caught.value.code is ResultCode.CATALOG_NOT_NEWER
    assert client.trust() == new
    # The same catalog again is no change, not an error.
    client.install_key(site.product("Standard").setup_key, new)


def test_an_old_trust_without_a_serial_is_serial_zero(site: Site) -> None:
    trust = site.publisher.trust()
    assert isinstance(trust, Trust)
    assert trust.catalog.serial >= 1  # signed by this version: serials start at 1


def test_the_cli_prints_the_publisher_key_and_pins_it_at_the_first_ipk(
    tmp_path: Path, site: Site
) -> None:
    runner = CliRunner()
    made = runner.invoke(cli, ["publisher", "init", str(tmp_path / "pub"), "--name", "P"])
    assert made.exit_code == 0, made.output
    printed = runner.invoke(cli, ["publisher", "key", str(tmp_path / "pub")])
    assert printed.exit_code == 0
    key = printed.stdout.strip()
    assert parse_publisher_key(key) == Publisher(tmp_path / "pub").trust().publisher_key
    assert f"key        {key}" in made.stdout

    store = str(tmp_path / "pc")
    setup = site.product("Standard").setup_key
    genuine = str(site.publisher.directory / "trust.json")
    first = runner.invoke(cli, ["client", "--store", store, "ipk", setup, "--trust", genuine])
    assert first.exit_code == 0, first.output
    other = str(tmp_path / "pub" / "trust.json")
    refused = runner.invoke(cli, ["client", "--store", store, "ipk", setup, "--trust", other])
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"Error: {ResultCode.PUBLISHER_MISMATCH.hex} ")
    assert "another store directory" in refused.stderr
    assert (tmp_path / "pc" / "trust.json").read_bytes() == Path(genuine).read_bytes()


def test_cli_ipk_with_publisher_key_refuses_another_trust_and_pins_the_key(
    tmp_path: Path, site: Site
) -> None:
    runner = CliRunner()
    rogue = Publisher.init(tmp_path / "rogue", "Rogue")
    genuine_key = format_publisher_key(site.publisher.trust().publisher_key)
    store, setup = tmp_path / "pc", site.product("Standard").setup_key
    ipk = ["client", "--store", str(store), "ipk", setup, "--publisher-key", genuine_key]
    # The first install, with another publisher's trust: refused, nothing pinned.
    other = str(rogue.directory / "trust.json")
    refused = runner.invoke(cli, [*ipk, "--trust", other])
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"Error: {ResultCode.PUBLISHER_MISMATCH.hex} ")
    assert "the application is pinned to" in refused.stderr
    assert not (store / "trust.json").exists()
    genuine = str(site.publisher.directory / "trust.json")
    assert runner.invoke(cli, [*ipk, "--trust", genuine]).exit_code == 0
    assert Client.open(store).state().publisher_key == genuine_key
    # Pinned: the rogue's trust is refused without --publisher-key too.
    plain = ["client", "--store", str(store), "ipk", setup, "--trust", other]
    assert runner.invoke(cli, plain).exit_code == 1
    assert (store / "trust.json").read_bytes() == Path(genuine).read_bytes()
    bad = runner.invoke(cli, [*ipk[:-1], "okpk1:short", "--trust", genuine])
    assert bad.exit_code == 1 and "is not a publisher key" in bad.stderr
