"""The publisher's key and catalog commands: add-product, issue-mak, list-keys, report."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from openkms.cli.main import cli
from openkms.core.keys import KeyKind, ProductKey, mak_product_tag
from openkms.publisher import Publisher


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_add_product_generates_the_ids_and_re_signs(tmp_path: Path) -> None:
    pub = tmp_path / "pub"
    publisher = Publisher.init(pub, "Test")
    before = publisher.trust().catalog
    code, out, err = _invoke(
        "publisher", "add-product", str(pub), "--name", "Acme Tool", "--edition", "Team",
        "--group", "desktop", "--n-policy", "3",
    )  # fmt: skip
    assert code == 0, err
    after = publisher.trust().catalog
    assert after.serial == before.serial + 1
    added = next(p for p in after.products if p.edition == "Team")
    assert (added.product, added.group, added.n_policy) == ("Acme Tool", "desktop", 3)
    assert ProductKey(added.setup_key).kind is KeyKind.SETUP
    assert added.activation_id in out
    tags = [mak_product_tag(p.activation_id) for p in after.products]
    assert len(set(tags)) == len(tags)
    again, _, err = _invoke(
        "publisher", "add-product", str(pub), "--name", "Acme Tool", "--edition", "team",
        "--group", "desktop", "--n-policy", "3",
    )  # fmt: skip
    assert again == 1 and "already has" in err
    bad_group, _, err = _invoke(
        "publisher", "add-product", str(pub), "--name", "X", "--edition", "Y",
        "--group", "Z", "--n-policy", "3",
    )  # fmt: skip
    assert bad_group == 1 and "0xE0040006" in err
    assert publisher.trust().catalog.serial == after.serial


def test_keys_are_listed_and_reported(tmp_path: Path) -> None:
    pub = tmp_path / "pub"
    publisher = Publisher.init(pub, "Test")
    host_key = publisher.issue_host_key("B")
    code, out, err = _invoke(
        "publisher", "issue-mak", str(pub), "--product", "Acme Studio, Desktop Professional",
        "--activations", "25",
    )  # fmt: skip
    assert code == 0, err
    mak = ProductKey.parse(out.strip())
    assert mak.kind is KeyKind.MAK and "25 activations" in err
    unknown, _, err = _invoke(
        "publisher", "issue-mak", str(pub), "--product", "Nope", "--activations", "2"
    )
    assert unknown == 1 and "no single product" in err

    code, out, _ = _invoke("publisher", "list-keys", str(pub))
    assert code == 0 and str(host_key) in out and str(mak) in out
    assert "used 0 of 25, 25 left" in out and "group B" in out
    keys = json.loads(_invoke("publisher", "list-keys", str(pub), "--json")[1])
    # Oldest first; two keys issued in the same second come in key ID order.
    assert sorted(k["kind"] for k in keys) == ["host", "mak"]
    report = json.loads(_invoke("publisher", "report", str(pub), "--json")[1])
    assert sorted((r["used"], r["left"]) for r in report) == [(0, 6), (0, 25)]
    blocked, out, _ = _invoke("publisher", "block-key", str(pub), str(host_key))
    assert blocked == 0 and "Blocked host key" in out
    assert "blocked" in _invoke("publisher", "report", str(pub))[1]
    actions = [e.action for e in publisher.audit_log()]
    assert actions == ["sign-catalog", "issue-key", "issue-key", "block-key"]
