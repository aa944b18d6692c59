"""The catalog a new publisher starts from: a fictitious publisher, desktop and server editions."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from openkms.core import settings
from openkms.core.keys import KeyKind, ProductKey, mak_product_tag

__all__ = ["default_catalog_toml"]

_EDITIONS = (
    ("Acme Studio", "Desktop Standard", "desktop", settings.DESKTOP_N_POLICY),
    ("Acme Studio", "Desktop Professional", "desktop", settings.DESKTOP_N_POLICY),
    ("Acme Server", "Web", "A", settings.SERVER_N_POLICY),
    ("Acme Server", "Standard", "B", settings.SERVER_N_POLICY),
    ("Acme Server", "Enterprise", "B", settings.SERVER_N_POLICY),
    ("Acme Server", "Datacenter", "C", settings.SERVER_N_POLICY),
)

_GROUPS = (
    ("desktop", "Desktop volume editions"),
    ("A", "Server group A (Web)"),
    ("B", "Server group B (Standard, Enterprise)"),
    ("C", "Server group C (Datacenter)"),
)


def default_catalog_toml(name: str, new_uuid: Callable[[], uuid.UUID] = uuid.uuid4) -> str:
    """A catalog.toml for publisher ``name`` with fresh IDs and setup keys."""
    lines = [
        "# OpenKMS catalog: edit, then run 'openkms publisher sign-catalog DIR'.",
        "# License groups are listed lowest first: a host key of a group activates",
        "# the products of its own group and of every lower group.",
        "",
        "[publisher]",
        f"name = {_quote(name)}",
        f'application_id = "{new_uuid()}"',
        f'service = "{settings.SRV_SERVICE}"',
        "",
        "[policy]",
        f"host_key_max_hosts = {settings.HOST_KEY_MAX_HOSTS}",
        f"host_key_max_activations = {settings.HOST_KEY_MAX_ACTIVATIONS}",
        "certificate_days = 730",
    ]
    for group, description in _GROUPS:
        lines += ["", "[[group]]", f'name = "{group}"', f"description = {_quote(description)}"]
    tags: set[str] = set()
    for product, edition, group, n_policy in _EDITIONS:
        # A MAK names its product by a 3-symbol tag of the activation ID (13,824 values):
        # drawn again until the tag is the catalog's own, as add-product does.
        activation_id = str(new_uuid())
        while mak_product_tag(activation_id) in tags:
            activation_id = str(new_uuid())
        tags.add(mak_product_tag(activation_id))
        lines += [
            "",
            "[[product]]",
            f"product = {_quote(product)}",
            f"edition = {_quote(edition)}",
            f'group = "{group}"',
            f"n_policy = {n_policy}",
            f'activation_id = "{activation_id}"',
            f'setup_key = "{ProductKey.generate(KeyKind.SETUP)}"',
        ]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
