"""Adding an edition to catalog.toml, and finding a product by what a publisher types."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from openkms.core.catalog import Catalog, Product
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey, mak_product_tag
from openkms.errors import CatalogError, OpenKMSError
from openkms.i18n import _

__all__ = ["add_product_toml", "find_product"]


def find_product(catalog: Catalog, text: str) -> Product:
    """The product named by its activation ID, 'Product, Edition' or a unique edition name."""
    wanted = text.strip().casefold()
    for product in catalog.products:
        if wanted in (product.activation_id, product.name.casefold()):
            return product
    matches = [p for p in catalog.products if p.edition.casefold() == wanted]
    if len(matches) == 1:
        return matches[0]
    names = "; ".join(p.name for p in catalog.products)
    raise OpenKMSError(
        _("no single product of the catalog is {text!r} (products: {names})").format(
            text=text, names=names
        ),
        code=ResultCode.INVALID_ARGUMENT,
        fix=_("Give the activation ID or 'Product, Edition' as 'publisher setup-keys DIR' lists."),
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def add_product_toml(
    text: str,
    catalog: Catalog,
    *,
    product: str,
    edition: str,
    group: str,
    n_policy: int,
    new_uuid: Callable[[], uuid.UUID] = uuid.uuid4,
) -> tuple[str, Product]:
    """``text`` with a new ``[[product]]`` table appended, and that product.

    The activation ID is drawn so that its MAK product tag is unique in the catalog (a MAK
    names its product by the tag), the setup key so that it repeats none.
    """
    if (
        not product.strip()
        or not edition.strip()
        or any(not part.isprintable() for part in (product, edition))
    ):
        raise CatalogError(_("the product and edition names must be printable and non-empty"))
    if group not in catalog.groups:
        raise CatalogError(
            _("license group {group!r} is not in the catalog ({groups})").format(
                group=group, groups=", ".join(catalog.groups)
            )
        )
    if not 1 <= n_policy <= 1000:
        raise CatalogError(_("n_policy must be a whole number 1..1000"))
    name = f"{product.strip()}, {edition.strip()}".casefold()
    if any(p.name.casefold() == name for p in catalog.products):
        raise CatalogError(
            _("the catalog already has {product}, {edition}").format(
                product=product.strip(), edition=edition.strip()
            )
        )
    tags = {mak_product_tag(p.activation_id) for p in catalog.products}
    activation_id = str(new_uuid())
    while mak_product_tag(activation_id) in tags:
        activation_id = str(new_uuid())
    keys = {p.setup_key for p in catalog.products}
    setup_key = ProductKey.generate(KeyKind.SETUP)
    while setup_key.symbols in keys:
        setup_key = ProductKey.generate(KeyKind.SETUP)
    added = Product(
        activation_id, product.strip(), edition.strip(), group, n_policy, setup_key.symbols
    )
    block = [
        "",
        "[[product]]",
        f"product = {_quote(added.product)}",
        f"edition = {_quote(added.edition)}",
        f"group = {_quote(group)}",
        f"n_policy = {n_policy}",
        f'activation_id = "{activation_id}"',
        f'setup_key = "{setup_key}"',
    ]
    return text.rstrip("\n") + "\n" + "\n".join(block) + "\n", added
