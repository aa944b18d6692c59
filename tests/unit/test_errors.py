"""The exceptions module: its tree is drawn in full, and network errors have one mapping."""

from __future__ import annotations

import errno
import inspect
import socket

import pytest

import openkms.errors as errors_module
from openkms.core.codes import ResultCode
from openkms.errors import ActivationError, OpenKMSError, network_error


def test_the_docstring_tree_names_every_error_of_the_module() -> None:
    classes = [
        value
        for value in vars(errors_module).values()
        if inspect.isclass(value) and issubclass(value, OpenKMSError)
    ]
    assert len(classes) == 10
    doc = errors_module.__doc__ or ""
    for cls in classes:
        assert f" {cls.__name__} " in doc, cls.__name__
        assert cls.__name__ in errors_module.__all__
        error = cls()
        assert error.message and error.fix and str(error).startswith(error.code.hex)


@pytest.mark.parametrize(
    ("exc", "code", "text"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), 0x8007274D, "connection refused"),
        (TimeoutError(), 0x800705B4, "no answer within 3s"),
        (OSError(errno.ETIMEDOUT, "Connection timed out"), 0x800705B4, "no answer"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), 0x800706BA, "unreachable"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), 0x800706BA, "unreachable"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), 0x800706BA, "unreachable (reset)"),
        (OSError("Multiple exceptions: ..."), 0x800706BA, "unreachable"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), 0x8007232B, "resolve"),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), 0x8007232B, "resolve"),
    ],
)
def test_network_errors_map_to_one_code_each(exc: OSError, code: int, text: str) -> None:
    error = network_error(exc, "kms.test:1688", 3.0)
    assert isinstance(error, ActivationError)
    assert error.code == code
    assert error.message.startswith("kms.test:1688: ") and text in error.message


def test_a_wire_code_outside_the_table_is_a_protocol_error() -> None:
    assert ResultCode.from_wire(0xC004F038) is ResultCode.COUNT_TOO_LOW
    assert ResultCode.from_wire(0) is ResultCode.OK
    assert ResultCode.from_wire(0x12345678) is ResultCode.PROTOCOL_ERROR
    assert ResultCode.from_wire(-1) is ResultCode.PROTOCOL_ERROR
