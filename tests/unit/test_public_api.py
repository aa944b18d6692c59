from __future__ import annotations

import openkms


def test_public_api_is_pinned_and_sorted() -> None:
    assert openkms.__all__ == sorted(openkms.__all__)
    assert openkms.__all__ == [
        "ActivationError",
        "AttemptOutcome",
        "CatalogError",
        "Client",
        "DnsError",
        "KeyFormatError",
        "KeyKind",
        "License",
        "LicenseState",
        "OpenKMSError",
        "ProductKey",
        "ProtocolError",
        "ResultCode",
        "SignatureError",
        "StateError",
        "StoreError",
        "Trust",
        "__version__",
    ]
    for name in openkms.__all__:
        assert getattr(openkms, name) is not None


def test_every_error_carries_a_code_and_a_fix() -> None:
    for name in openkms.__all__:
        value = getattr(openkms, name)
        if isinstance(value, type) and issubclass(value, openkms.OpenKMSError):
            error = value()
            assert error.code.hex.startswith("0x") and error.message and error.fix
            assert str(error).startswith(error.code.hex)


def test_every_result_code_has_a_message_and_a_fix() -> None:
    for code in openkms.ResultCode:
        assert code.info.message and code.info.fix
