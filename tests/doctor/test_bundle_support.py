"""The support bundle's machine files: versions, configuration (secrets masked), DNS, log tail."""

from __future__ import annotations

import platform
from pathlib import Path

from openkms import __version__
from openkms.doctor.stores._support import support_files

from helpers import Site


def test_support_files_hold_versions_config_dns_and_the_log_tail(
    site: Site, tmp_path: Path
) -> None:
    log = tmp_path / "host.log"
    log.write_text("".join(f"line {i}\n" for i in range(600)))
    config = tmp_path / "host.toml"
    config.write_text(
        f'store = "{site.host_dir}"\n[log]\ndestination = "file"\nfile = "{log}"\n'
        '[database]\ndsn = "postgresql://kms:hunter2@db/kms"\n'
    )
    site.host_state.update_settings(dns_domain="corp.example", dns_tsig_key_file="/etc/k.key")
    files = support_files(site.host_dir, {"OPENKMS_CONFIG": str(config)})
    system = "".join(files["system.txt"])
    assert f"OpenKMS {__version__}" in system and platform.python_version() in system
    text = "".join(files["config.txt"])
    assert f"configuration file: {config}" in text
    assert "postgresql://kms:***@db/kms" in text and "hunter2" not in text
    assert f"log.destination = 'file'  (file: {config}:3)" in text
    dns = "".join(files["dns.txt"])
    assert "dns_domain = 'corp.example'" in dns and "dns_tsig_key_file = '/etc/k.key'" in dns
    tail = files["host-log.txt"]
    assert tail[0] == f"== the last 500 lines of {log}\n"
    assert tail[1:] == [f"line {i}\n" for i in range(100, 600)]


def test_support_files_of_a_client_or_a_bad_config_say_so(tmp_path: Path) -> None:
    bad = tmp_path / "host.toml"
    bad.write_text("[limits]\nmax_conections = 3\n")
    files = support_files(tmp_path, {"OPENKMS_CONFIG": str(bad)})
    assert files["config.txt"][0].startswith("Error: 0x80070057")
    assert "unknown key 'limits.max_conections'" in files["config.txt"][0]
    assert files["dns.txt"][-1] == "(not a host store: no DNS publishing settings)\n"
    assert files["host-log.txt"][0].startswith("== journalctl -u openkms")
