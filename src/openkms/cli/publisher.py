"""``openkms publisher`` (alias ``openkms vendor``): the publisher's tools."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click
import msgspec

from openkms._address import parse_address
from openkms._files import atomic_write, read_bytes
from openkms.cli._common import OpenKMSGroup, echo_json, setup_logging
from openkms.cli.phone import publisher_confirm
from openkms.cli.publisher_revocations import block_key_command, revoke_host_command
from openkms.cli.rotation import rotate_root_command
from openkms.core.keys import ProductKey
from openkms.errors import OpenKMSError
from openkms.i18n import _
from openkms.publisher import Publisher
from openkms.publisher.publisher import MAX_MAK_ACTIVATIONS
from openkms.publisher.records import DATABASE_ENV
from openkms.publisher.report import report_text
from openkms.publisher.service_config import DEFAULT_PORT, ServiceConfig

__all__ = ["publisher", "vendor"]

_DIR = click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
_DATABASE = click.option(
    "--database",
    envvar=DATABASE_ENV,
    help="PostgreSQL DSN of the records (else OPENKMS_PUBLISHER_DATABASE, else DIR/publisher.db).",
)

_SERVICE = ServiceConfig(Path())  # the service's defaults, shown by --help


@click.group(cls=OpenKMSGroup)
def publisher() -> None:
    """Publisher tools: root key, catalog, setup keys, host keys, host activation.

    'openkms vendor' is an alias of this group.
    """


@publisher.command()
@_DIR
@click.option("--name", default="Acme Analytics", show_default=True, help="Publisher name.")
@_DATABASE
def init(directory: Path, name: str, database: str | None) -> None:
    """Create a publisher: root key (0600), catalog.toml, trust.json and the records."""
    created = Publisher.init(directory, name, database=database)
    click.echo(_("Publisher {name} created in {path}").format(name=repr(name), path=directory))
    click.echo(_("  root key   {path} (keep it offline)").format(path=directory / "root.key"))
    click.echo(
        _("  catalog    {path} (edit, then sign-catalog)").format(path=directory / "catalog.toml")
    )
    click.echo(
        _("  trust      {path} (give to hosts and clients)").format(path=directory / "trust.json")
    )
    click.echo(_("  publisher  {id}").format(id=created.trust().publisher_id))
    click.echo(_("  key        {key}").format(key=created.public_key_text()))
    click.echo(_("Pin the key in the application: Client.open(directory, publisher_key=KEY)"))


@publisher.command()
@_DIR
def key(directory: Path) -> None:
    """Print the publisher key (okpk1:...) that applications pin in Client.open."""
    click.echo(Publisher(directory).public_key_text())


@publisher.command("sign-catalog")
@_DIR
@_DATABASE
def sign_catalog(directory: Path, database: str | None) -> None:
    """Validate catalog.toml and sign it into trust.json."""
    trust = Publisher(directory, database=database).sign_catalog()
    click.echo(
        _("Catalog signed: {count} products -> {path}").format(
            count=len(trust.catalog.products), path=directory / "trust.json"
        )
    )


@publisher.command("setup-keys")
@_DIR
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def setup_keys(directory: Path, as_json: bool) -> None:
    """The setup-key table (the published client keys of every edition)."""
    products = Publisher(directory).setup_keys()
    rows = [
        {
            "product": p.product,
            "edition": p.edition,
            "group": p.group,
            "n_policy": p.n_policy,
            "setup_key": str(_key(p.setup_key)),
        }
        for p in products
    ]
    if as_json:
        echo_json(rows)
        return
    click.echo(f"{_('Product'):<14} {_('Edition'):<22} {_('Group'):<8} {'N':>3}  {_('Setup key')}")
    for row in rows:
        click.echo(
            f"{row['product']:<14} {row['edition']:<22} {row['group']:<8} "
            f"{row['n_policy']:>3}  {row['setup_key']}"
        )


def _key(symbols: str) -> str:
    return str(ProductKey(symbols))


@publisher.command("issue-host-key")
@_DIR
@click.option("--group", required=True, help="License group of the key (e.g. desktop, A, B, C).")
@_DATABASE
def issue_host_key(directory: Path, group: str, database: str | None) -> None:
    """Print a new host key for a license group, and record it."""
    click.echo(str(Publisher(directory, database=database).issue_host_key(group)))


@publisher.command("activate-host")
@_DIR
@click.argument("request", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--days", type=click.IntRange(1, 36500), default=None, help="Certificate validity.")
@_DATABASE
def activate_host(
    directory: Path, request: Path, output: Path, days: int | None, database: str | None
) -> None:
    """Offline host activation: verify REQUEST, enforce key limits, write a certificate."""
    publisher = Publisher(directory, database=database)
    data = publisher.activate_host(read_bytes(request, "activation request"), days)
    atomic_write(output, data)
    click.echo(_("Host certificate written to {path}").format(path=output))


publisher.add_command(publisher_confirm)
publisher.add_command(rotate_root_command)
publisher.add_command(block_key_command)
publisher.add_command(revoke_host_command)


@publisher.command("issue-mak")
@_DIR
@click.option("--product", required=True, help="Activation ID, 'Product, Edition' or edition.")
@click.option(
    "--activations",
    required=True,
    type=click.IntRange(1, MAX_MAK_ACTIVATIONS),
    help="How many machines the MAK may activate.",
)
@_DATABASE
def issue_mak(directory: Path, product: str, activations: int, database: str | None) -> None:
    """Print a new MAK for a product (N machines activate with the publisher), and record it."""
    key, found = Publisher(directory, database=database).issue_mak(product, activations)
    click.echo(str(key))
    click.echo(
        _("MAK for {product}, {count} activations.").format(product=found.name, count=activations),
        err=True,
    )


@publisher.command("list-keys")
@_DIR
@_DATABASE
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_keys(directory: Path, database: str | None, as_json: bool) -> None:
    """Every key issued: kind, group or product, activations allowed and used, blocked."""
    publisher = Publisher(directory, database=database)
    usage = publisher.usage()
    if as_json:
        echo_json([u.key for u in usage])
        return
    click.echo(report_text(usage, publisher.trust().catalog, machines=False))


@publisher.command()
@_DIR
@_DATABASE
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def report(directory: Path, database: str | None, as_json: bool) -> None:
    """Keys, activations used and left, and the hosts and machines that used them."""
    publisher = Publisher(directory, database=database)
    usage = publisher.usage()
    if as_json:
        echo_json(
            [{"key": u.key, "used": u.used, "left": u.left, "machines": u.machines} for u in usage]
        )
        return
    click.echo(report_text(usage, publisher.trust().catalog, machines=True))


@publisher.command("add-product")
@_DIR
@click.option("--name", "product", required=True, help="Product name (e.g. 'Acme Studio').")
@click.option("--edition", required=True, help="Edition (e.g. 'Team').")
@click.option("--group", required=True, help="License group of the edition.")
@click.option(
    "--n-policy", required=True, type=click.IntRange(1, 1000), help="Activation threshold."
)
@_DATABASE
def add_product(
    directory: Path, product: str, edition: str, group: str, n_policy: int, database: str | None
) -> None:
    """Add an edition (new activation ID and setup key) to catalog.toml, and re-sign."""
    added = Publisher(directory, database=database).add_product(product, edition, group, n_policy)
    click.echo(
        _("Added {product} (group {group}, N = {n})").format(
            product=added.name, group=added.group, n=added.n_policy
        )
    )
    click.echo(_("  activation ID  {id}").format(id=added.activation_id))
    click.echo(_("  setup key      {key}").format(key=_key(added.setup_key)))
    click.echo(
        _("Catalog signed -> {path} (give it to hosts and clients)").format(
            path=directory / "trust.json"
        )
    )


@publisher.command()
@_DIR
@click.option(
    "--listen",
    default=f"127.0.0.1:{DEFAULT_PORT}",
    show_default=True,
    help="ADDR:PORT to listen on (port 0: any free port).",
)
@_DATABASE
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--trusted-proxy",
    multiple=True,
    help="A reverse proxy's address whose X-Forwarded-For is believed (repeatable).",
)
@click.option(
    "--max-connections",
    default=_SERVICE.max_connections,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Open connections in all (lowered below the open-file limit).",
)
@click.option(
    "--max-connections-per-address",
    default=_SERVICE.max_connections_per_address,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Open connections from one address (trusted proxies: only the total).",
)
@click.option(
    "--header-timeout",
    default=_SERVICE.header_timeout,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds a new connection has to send its request line and headers.",
)
@click.option(
    "--keepalive-timeout",
    default=_SERVICE.keepalive_timeout,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds a connection may wait for its next request after a response.",
)
@click.option(
    "--rate-limit",
    default=_SERVICE.rate_limit,
    show_default=True,
    type=click.FloatRange(0, 1_000_000),
    help="Requests a second per client address, past the burst (0: no limit).",
)
@click.option(
    "--rate-burst",
    default=_SERVICE.rate_burst,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Requests a client address may make at once.",
)
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--log-level", default="INFO", type=click.Choice(["DEBUG", "INFO", "WARNING"]))
def serve(
    directory: Path,
    listen: str,
    database: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    trusted_proxy: tuple[str, ...],
    max_connections: int,
    max_connections_per_address: int,
    header_timeout: float,
    keepalive_timeout: float,
    rate_limit: float,
    rate_burst: int,
    ready_file: Path | None,
    log_level: str,
) -> None:
    """Run the activation service (online host activation, MAK) until Ctrl-C."""
    if (tls_cert is None) != (tls_key is None):
        raise OpenKMSError(
            _("--tls-cert and --tls-key go together"),
            fix=_("Give both, or neither (plain HTTP)."),
        )
    setup_logging(log_level)
    config = ServiceConfig(
        directory=directory,
        listen=parse_address(listen, DEFAULT_PORT),
        database=database,
        tls_cert=tls_cert,
        tls_key=tls_key,
        trusted_proxies=trusted_proxy,
        max_connections=max_connections,
        max_connections_per_address=max_connections_per_address,
        header_timeout=header_timeout,
        keepalive_timeout=keepalive_timeout,
        rate_limit=rate_limit,
        rate_burst=rate_burst,
    )

    def ready(urls: list[str]) -> None:
        click.echo(_("Publisher service listening on {urls}").format(urls=", ".join(urls)))
        if ready_file is not None:
            atomic_write(ready_file, msgspec.json.encode({"urls": urls}) + b"\n")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        # aiohttp is loaded only by the command that serves: every command imports this module.
        from openkms.publisher.service import serve as serve_service  # noqa: PLC0415

        await serve_service(config, stop, ready)

    asyncio.run(main())


vendor = OpenKMSGroup(
    "vendor",
    commands=publisher.commands,
    help="Alias of 'openkms publisher'.",
    hidden=True,
)
