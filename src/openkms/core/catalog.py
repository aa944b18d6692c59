"""The publisher's catalog: products, editions, license groups, N-policies, setup keys.

The catalog is written by hand as TOML (``catalog.toml``), validated here, then signed by
the publisher and shipped inside ``trust.json``. Hosts and clients only ever read the
signed form.
"""

from __future__ import annotations

import re
import tomllib
import uuid
from typing import Any

import msgspec

from openkms.core import settings
from openkms.core.keys import KeyKind, ProductKey
from openkms.errors import CatalogError, KeyFormatError
from openkms.i18n import _

__all__ = ["Catalog", "Product", "parse_catalog_toml"]


class Product(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One product edition, identified by its activation ID."""

    activation_id: str
    product: str
    edition: str
    group: str
    n_policy: int
    setup_key: str

    @property
    def name(self) -> str:
        """'Product, Edition' as dli's ``Name:`` line shows it."""
        return f"{self.product}, {self.edition}"


class Catalog(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Everything a publisher declares about its products.

    Fields at their defaults are not encoded (``omit_defaults``), and a decoder takes a
    missing field as its default: a catalog without a ``phone_key`` or ``publisher_url`` is
    still read by older hosts and clients, whose decoders forbid unknown fields; one that
    carries either is refused by them (docs/upgrading.md). A trust file keeps the signed
    bytes as they are, so one signed before the fields existed still verifies.
    """

    publisher: str
    application_id: str
    service: str
    groups: tuple[str, ...]
    products: tuple[Product, ...]
    host_key_max_hosts: int = settings.HOST_KEY_MAX_HOSTS
    host_key_max_activations: int = settings.HOST_KEY_MAX_ACTIVATIONS
    certificate_days: int = 730
    # Raised by every signature (publisher sign-catalog); a client replaces its pinned
    # catalog only with a higher one. A catalog signed before serials existed is serial 0.
    serial: int = 0
    # The publisher's phone-signing key (core/shortsig.py), derived from the root key:
    # clients and hosts verify confirmation IDs against it. Empty: no phone activation.
    phone_key: bytes = b""
    # The publisher's activation service (``[publisher] url``), where hosts activate online
    # and MAK clients activate; empty: none (offline files only). A catalog signed before
    # the field existed decodes with it empty, and its signed bytes are kept as they are.
    publisher_url: str = ""

    def product(self, activation_id: str) -> Product | None:
        """The product with this activation ID, or None."""
        for product in self.products:
            if product.activation_id == activation_id:
                return product
        return None

    def product_for_setup_key(self, key: ProductKey) -> Product | None:
        """The product whose setup key this is, or None."""
        for product in self.products:
            if product.setup_key == key.symbols:
                return product
        return None

    def group_rank(self, group: str) -> int:
        """Position of a license group, lowest first; ValueError for an unknown group."""
        return self.groups.index(group)

    def covers(self, host_group: str, product_group: str) -> bool:
        """True when a host key of ``host_group`` may activate ``product_group``."""
        return self.group_rank(product_group) <= self.group_rank(host_group)


def _line_of(text: str, pattern: str, occurrence: int = 0) -> int:
    """1-based line of the n-th match of ``pattern`` in ``text`` (1 if not found)."""
    matches = list(re.finditer(pattern, text, re.MULTILINE))
    if occurrence < len(matches):
        return text.count("\n", 0, matches[occurrence].start()) + 1
    return 1


def parse_catalog_toml(text: str, source: str = "catalog.toml") -> Catalog:
    """Parse and validate a catalog; every error names the file and line."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(_("{source}: {exc}").format(source=source, exc=exc)) from None
    try:
        return _build(raw, text, source)
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(_("{source}: line 1: {exc}").format(source=source, exc=exc)) from None


def _build(raw: dict[str, Any], text: str, source: str) -> Catalog:
    publisher = raw.get("publisher")
    if not isinstance(publisher, dict):
        raise CatalogError(_("{source}: line 1: missing [publisher] table").format(source=source))
    line = _line_of(text, r"^[ \t]*\[publisher\]")
    name = _require_str(publisher, "name", source, line)
    application_id = _require_uuid(publisher, "application_id", source, line)
    service = str(publisher.get("service", settings.SRV_SERVICE))
    if not re.fullmatch(r"_[A-Za-z0-9-]+\._(tcp|udp)", service):
        raise CatalogError(
            _("{source}: line {line}: service {service!r} is not like _name._tcp").format(
                source=source, line=line, service=service
            )
        )
    url = _publisher_url(publisher, source, line)
    groups = _groups(raw, text, source)
    products = tuple(
        _product(entry, index, groups, text, source)
        for index, entry in enumerate(_tables(raw, "product", text, source))
    )
    _check_unique(products, text, source)
    policy = raw.get("policy", {})
    if not isinstance(policy, dict):
        line = _line_of(text, r"^[ \t]*\[*policy\b")
        raise CatalogError(
            _("{source}: line {line}: policy must be a [policy] table").format(
                source=source, line=line
            )
        )
    return Catalog(
        publisher=name,
        application_id=application_id,
        service=service,
        groups=groups,
        products=products,
        host_key_max_hosts=int(policy.get("host_key_max_hosts", settings.HOST_KEY_MAX_HOSTS)),
        host_key_max_activations=int(
            policy.get("host_key_max_activations", settings.HOST_KEY_MAX_ACTIVATIONS)
        ),
        certificate_days=int(policy.get("certificate_days", 730)),
        publisher_url=url,
    )


def _publisher_url(publisher: dict[str, Any], source: str, line: int) -> str:
    """``[publisher] url``: an http(s) URL without spaces, or empty."""
    value = publisher.get("url", "")
    if not isinstance(value, str):
        raise CatalogError(
            _("{source}: line {line}: url must be a string").format(source=source, line=line)
        )
    url = value.strip().rstrip("/")
    if url and (
        not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url, re.ASCII) or len(url) > 200
    ):
        raise CatalogError(
            _(
                "{source}: line {line}: url {url!r} is not an http:// or https:// URL "
                "(no query, at most 200 characters)"
            ).format(source=source, line=line, url=url[:80])
        )
    return url


def _tables(raw: dict[str, Any], name: str, text: str, source: str) -> list[dict[str, Any]]:
    """The ``[[name]]`` entries; anything else under that name is an error, not a crash."""
    entries = raw.get(name, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        line = _line_of(text, rf"^[ \t]*\[*{name}\b")
        raise CatalogError(
            _("{source}: line {line}: {name} must be [[{name}]] tables").format(
                source=source, line=line, name=name
            )
        )
    return entries


def _groups(raw: dict[str, Any], text: str, source: str) -> tuple[str, ...]:
    entries = _tables(raw, "group", text, source)
    if not entries:
        raise CatalogError(
            _("{source}: line 1: no [[group]] entries (lowest group first)").format(source=source)
        )
    names = []
    for index, entry in enumerate(entries):
        line = _line_of(text, r"^[ \t]*\[\[group\]\]", index)
        names.append(_require_str(entry, "name", source, line))
    if len(set(names)) != len(names):
        raise CatalogError(
            _("{source}: line 1: license group names repeat: {names}").format(
                source=source, names=names
            )
        )
    return tuple(names)


def _product(
    entry: dict[str, Any], index: int, groups: tuple[str, ...], text: str, source: str
) -> Product:
    line = _line_of(text, r"^[ \t]*\[\[product\]\]", index)
    group = _require_str(entry, "group", source, line)
    if group not in groups:
        raise CatalogError(
            _("{source}: line {line}: product group {group!r} is not one of {groups}").format(
                source=source, line=line, group=group, groups=list(groups)
            )
        )
    n_policy = entry.get("n_policy")
    if not isinstance(n_policy, int) or isinstance(n_policy, bool) or not 1 <= n_policy <= 1000:
        raise CatalogError(
            _("{source}: line {line}: n_policy must be a whole number 1..1000").format(
                source=source, line=line
            )
        )
    raw_key = _require_str(entry, "setup_key", source, line)
    try:
        key = ProductKey.parse(raw_key)
    except KeyFormatError as exc:
        raise CatalogError(
            _("{source}: line {line}: setup_key: {message}").format(
                source=source, line=line, message=exc.message
            )
        ) from None
    if key.kind is not KeyKind.SETUP:
        raise CatalogError(
            _("{source}: line {line}: setup_key {raw_key} is a host key").format(
                source=source, line=line, raw_key=raw_key
            )
        )
    return Product(
        activation_id=_require_uuid(entry, "activation_id", source, line),
        product=_require_str(entry, "product", source, line),
        edition=_require_str(entry, "edition", source, line),
        group=group,
        n_policy=n_policy,
        setup_key=key.symbols,
    )


def _check_unique(products: tuple[Product, ...], text: str, source: str) -> None:
    seen_ids: set[str] = set()
    seen_keys: set[str] = set()
    for index, product in enumerate(products):
        line = _line_of(text, r"^[ \t]*\[\[product\]\]", index)
        if product.activation_id in seen_ids:
            raise CatalogError(
                _("{source}: line {line}: activation_id repeats").format(source=source, line=line)
            )
        if product.setup_key in seen_keys:
            raise CatalogError(
                _("{source}: line {line}: setup_key repeats").format(source=source, line=line)
            )
        seen_ids.add(product.activation_id)
        seen_keys.add(product.setup_key)


def _require_str(table: dict[str, Any], field: str, source: str, line: int) -> str:
    value = table.get(field)
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(
            _("{source}: line {line}: {field} must be a non-empty string").format(
                source=source, line=line, field=field
            )
        )
    return value.strip()


def _require_uuid(table: dict[str, Any], field: str, source: str, line: int) -> str:
    value = _require_str(table, field, source, line)
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise CatalogError(
            _("{source}: line {line}: {field} {value!r} is not a UUID").format(
                source=source, line=line, field=field, value=value
            )
        ) from None
