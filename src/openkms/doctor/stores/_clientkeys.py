"""``doctor client``, its first step: is this a client store, and what key is installed?

The guides start with the key on the machine: a setup key (GVLK analogue) of a product in
the publisher's catalog makes it a KMS client; no key, a host key (CSVLK analogue) or a key
that does not parse is the cause, and the other checks then say little.
"""

from __future__ import annotations

from pathlib import Path

from openkms.client.api import Client
from openkms.client.state import ClientState
from openkms.core.catalog import Product
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey
from openkms.doctor._i18n import Text, error_words
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.findings import Finding, Severity
from openkms.doctor.stores._hoststore import store_problem
from openkms.errors import OpenKMSError
from openkms.i18n import N_

__all__ = ["key_findings", "role_problem"]


def role_problem(directory: Path) -> Finding | None:
    """Why ``directory`` is not a client store to check (None when it is one)."""
    if not directory.is_dir():
        return store_problem(directory, "store-missing", Text(N_("no such directory")))
    if (directory / "client.json").exists():
        return None
    if (directory / "host.json").exists():
        return store_problem(
            directory,
            "not-a-client-store",
            Text(N_("this is a host store (host.json), not a client store")),
            Text(N_("Run 'openkms doctor host --store DIR' for a host.")),
        )
    code = ResultCode.NO_PRODUCT_KEY
    return CATALOGUE["no-key"].finding(
        Severity.ERROR,
        Text(
            N_("{directory}: no client.json: no product key was ever installed here"),
            directory=directory,
        ),
        meaning=Text(
            N_("{message} Without a setup key the machine is not a KMS client."),
            message=Text(code.info.message),
        ),
        fix=Text(
            N_(
                "Install the edition's setup key: 'openkms client --store DIR ipk KEY --trust "
                "trust.json' (keys: 'openkms vendor setup-keys')."
            )
        ),
        code=code.hex,
    )


def key_findings(client: Client, state: ClientState) -> tuple[list[Finding], Product | None]:
    """The key on the machine: a setup key of a product in the catalog, not a host key."""
    where = client.directory / "client.json"
    if state.setup_key is None and state.partial_key and state.activation_id:
        return _product_findings(client, where, state.partial_key)  # text cleared by cpky
    if state.setup_key is None:
        code = ResultCode.NO_PRODUCT_KEY
        return [
            CATALOGUE["no-key"].finding(
                Severity.ERROR,
                Text(N_("{where}: no product key installed"), where=where),
                meaning=Text(
                    N_(
                        "{message} A host key is refused on a client: if one was "
                        "tried, the setup key still has to be installed."
                    ),
                    message=Text(code.info.message),
                ),
                fix=Text(
                    N_(
                        "Install the edition's setup key ('client ipk KEY'; the keys are in "
                        "'openkms vendor setup-keys')."
                    )
                ),
                code=code.hex,
            )
        ], None
    try:
        key = ProductKey.parse(state.setup_key)
    except OpenKMSError as exc:
        return [_bad_key(where, exc)], None
    if key.kind is KeyKind.HOST:
        return [
            CATALOGUE["host-key-on-client"].finding(
                Severity.ERROR,
                Text(
                    N_("{where}: the installed key (partial {partial}) is a host key"),
                    where=where,
                    partial=key.partial,
                ),
                meaning=Text(
                    N_(
                        "A host key (CSVLK analogue) installed on a client is a known mistake: "
                        "the machine cannot activate as a KMS client."
                    )
                ),
                fix=Text(
                    N_(
                        "Install the edition's setup key ('client ipk KEY', from 'vendor "
                        "setup-keys'); a host key belongs on the KMS host only."
                    )
                ),
                code=ResultCode.INVALID_PRODUCT_KEY.hex,
            )
        ], None
    return _product_findings(client, where, key.partial)


def _bad_key(where: Path, exc: OpenKMSError) -> Finding:
    message, fix = error_words(exc)
    return CATALOGUE["invalid-key"].finding(
        Severity.ERROR,
        Text(
            N_("{where}: the installed key does not parse: {message}"),
            where=where,
            message=message,
        ),
        meaning=Text(exc.code.info.message),
        fix=fix,
        code=exc.code.hex,
    )


def _product_findings(
    client: Client, where: Path, partial: str
) -> tuple[list[Finding], Product | None]:
    if client.trust() is None:
        code = ResultCode.TRUST_MISSING
        finding = CATALOGUE["trust-missing"].finding(
            Severity.ERROR,
            Text(N_("{path}: missing"), path=client.directory / "trust.json"),
            meaning=Text(code.info.message),
            fix=Text(code.info.fix),
            code=code.hex,
        )
        return [finding], None
    product = client.product()
    if product is None:
        return [
            _bad_key(
                where,
                OpenKMSError(Text(N_("the key's product is not in the publisher's catalog"))),
            )
        ], None
    return [
        CATALOGUE["setup-key"].finding(
            Severity.OK,
            Text(
                N_("{where}: setup key installed (partial {partial}): {product}, N-policy {n}"),
                where=where,
                partial=partial,
                product=product.name,
                n=product.n_policy,
            ),
            meaning=Text(N_("A setup key (GVLK analogue) makes this machine a KMS client.")),
        )
    ], product
