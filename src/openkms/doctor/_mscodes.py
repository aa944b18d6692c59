"""Microsoft's published volume-activation error codes, as the doctor explains them.

These are the codes of Microsoft Learn's "Troubleshoot Windows activation error codes"
(KMS and MAK) and of the KMS known-issues article, with the cause and the fix those
articles give, each tied to the troubleshooting procedure to follow first. They are facts
about Windows that the doctor explains; OpenKMS does not produce most of them, so they
live here rather than in :class:`openkms.core.codes.ResultCode` (whose members are the
codes OpenKMS itself returns, and from which ``docs/result-codes.md`` is generated).

Over 400 lines because it is one table, one entry per code, with no logic to split off.
"""

from __future__ import annotations

import msgspec

from openkms.i18n import N_

__all__ = ["ARTICLE_CODES", "KNOWN_ISSUES", "MS_CODES", "MsCode", "mak_fix", "ms_code"]

ARTICLE_CODES = "Troubleshoot Windows activation error codes (Microsoft Learn)"
KNOWN_ISSUES = "KMS activation known issues (Microsoft Learn)"


class MsCode(msgspec.Struct, frozen=True, kw_only=True):
    """One published code: a short name, what Windows says, why it happens, what to do."""

    code: int
    name: str
    meaning: str
    cause: str
    fix: str
    procedure: str
    source: str = ARTICLE_CODES
    # The fix on a Windows MAK machine (VOLUME_MAK channel) when the code is a MAK cause;
    # empty when it is not one (0x8007232B: only a KMS client looks for SRV records).
    mak: str = ""

    @property
    def hex(self) -> str:
        """The code as Windows prints it: ``0xC004F074``."""
        return f"0x{self.code:08X}"


_ADMIN = N_("Open the command prompt with 'Run as administrator' and run the command again.")
_DNS_SRV = N_(
    "Check that the _vlmcs._tcp SRV record of the KMS host exists in the client's DNS "
    "domain (nslookup -type=srv _vlmcs._tcp), that the client's DNS suffix points there, "
    "or set the host by hand with 'slmgr /skms <host>:1688'; if there is no KMS host, "
    "install a MAK with 'slmgr /ipk' and activate online."
)
_MAK_PHONE = N_("Activate by phone ('slui 4') or ask the Microsoft Licensing Activation Centers.")
_MAK_ONLINE = N_(
    "Activate the MAK online with 'slmgr /ato' once the machine reaches Microsoft's "
    "activation servers over the Internet (directly or through its proxy), or by phone with "
    "'slui 4'."
)
_MAK_BLOCKED = N_(
    "Microsoft blocked this MAK: get a new MAK from the Volume Licensing Service Center, "
    "install it with 'slmgr /ipk <MAK>', then 'slmgr /ato'."
)
_MAK_USED_UP = N_(
    "This MAK's activations are used up: ask the Microsoft Licensing Activation Centers for "
    "more (by phone, 'slui 4', they can also activate this machine), or install another MAK "
    "with 'slmgr /ipk <MAK>', then 'slmgr /ato'."
)
_MAK_NETWORK = N_(
    "Let the machine reach Microsoft's activation servers over the Internet (proxy, firewall, "
    "DNS), then 'slmgr /ato'; or activate by phone with 'slui 4'."
)

_TABLE: tuple[MsCode, ...] = (
    MsCode(
        code=0xC004B100,
        name=N_("computer not activatable with this MAK"),
        meaning=N_("The activation server determined that the computer could not be activated."),
        cause=N_("The MAK is not supported for this product or edition."),
        fix=N_(
            "Use a MAK for this edition, or contact the Microsoft Licensing Activation Centers."
        ),
        procedure="key",
        mak=N_(
            "Use a MAK for this edition, or contact the Microsoft Licensing Activation Centers."
        ),
    ),
    MsCode(
        code=0xC004C001,
        name=N_("invalid MAK"),
        meaning=N_("The activation server determined that the specified product key is invalid."),
        cause=N_("An invalid MAK was entered."),
        fix=N_("Check the MAK (typing, edition) and install it again with 'slmgr /ipk'."),
        procedure="key",
        mak=N_("Check the MAK (typing, edition) and install it again with 'slmgr /ipk'."),
    ),
    MsCode(
        code=0xC004C003,
        name=N_("product key blocked"),
        meaning=N_("The activation server determined that the specified product key is blocked."),
        cause=N_("The MAK is blocked on the activation server (revoked or leaked)."),
        fix=N_(
            "Obtain a new MAK from the Volume Licensing Service Center and install it with "
            "'slmgr /ipk'; KMS clients should use the edition's setup key (GVLK) instead."
        ),
        procedure="key",
        mak=_MAK_BLOCKED,
    ),
    MsCode(
        code=0xC004C008,
        name=N_("product key over its activation limit"),
        meaning=N_(
            "The activation server reported that the product key has exceeded its unlock limit."
        ),
        cause=N_(
            "The key was activated more times than it allows: a KMS host key (CSVLK) "
            "activates up to six KMS hosts, ten times each; a MAK, the number of activations "
            "bought with it."
        ),
        fix=N_(
            "KMS host key: ask the Microsoft Licensing Activation Centers for more "
            "activations, or reuse an existing KMS host. MAK: activate by phone ('slui 4'), "
            "ask for more activations, or install another MAK."
        ),
        procedure="host",
        mak=_MAK_USED_UP,
    ),
    MsCode(
        code=0xC004C020,
        name=N_("MAK over its limit"),
        meaning=N_(
            "The activation server reported that the Multiple Activation Key has "
            "exceeded its limit."
        ),
        cause=N_("The MAK has been used for more activations than it allows."),
        fix=_MAK_USED_UP,
        procedure="mak-client",
        mak=_MAK_USED_UP,
    ),
    MsCode(
        code=0xC004C021,
        name=N_("MAK extension limit exceeded"),
        meaning=N_(
            "The activation server reported that the Multiple Activation Key extension "
            "limit has been exceeded."
        ),
        cause=N_("The MAK has been used for more activations than it allows."),
        fix=_MAK_USED_UP,
        procedure="mak-client",
        mak=_MAK_USED_UP,
    ),
    MsCode(
        code=0xC004E003,
        name=N_("license evaluation failed"),
        meaning=N_("The Software Licensing Service reported that license evaluation failed."),
        cause=N_(
            "System files or the license store were changed after installation (third-party "
            "software, a failed update)."
        ),
        fix=N_("Undo the change (System Restore) or repair Windows, then 'slmgr /ato'."),
        procedure="client",
    ),
    MsCode(
        code=0xC004E015,
        name=N_("license consumption failed"),
        meaning=N_("The Software Licensing Service reported that license consumption failed."),
        cause=N_(
            "The license store is damaged or the installed key does not match the edition "
            "(often after an unexpected shutdown while the service wrote its tokens)."
        ),
        fix=N_(
            "Reinstall the system license files with 'slmgr /rilc', restart, install the "
            "edition's key with 'slmgr /ipk' and run 'slmgr /ato'."
        ),
        procedure="client",
    ),
    MsCode(
        code=0xC004F009,
        name=N_("grace period expired"),
        meaning=N_("The Software Licensing Service reported that the grace period expired."),
        cause=N_(
            "The grace period ended before the machine was activated; it is now in the "
            "notifications state."
        ),
        fix=N_(
            "Activate the machine: KMS clients need to reach their host ('slmgr /ato'), MAK "
            "machines activate online or by phone."
        ),
        procedure="client",
        mak=_MAK_ONLINE,
    ),
    MsCode(
        code=0xC004F00F,
        name=N_("hardware out of tolerance"),
        meaning=N_(
            "The Software Licensing Server reported that the hardware ID binding is "
            "beyond the level of tolerance."
        ),
        cause=N_("The hardware changed, or its drivers were updated, too much since activation."),
        fix=N_(
            "KMS client: restart, or run 'slmgr /ato' to activate again. MAK: activate again "
            "online or by phone ('slui 4')."
        ),
        procedure="client",
        mak=_MAK_ONLINE,
    ),
    MsCode(
        code=0xC004F014,
        name=N_("no product key installed"),
        meaning=N_(
            "The Software Licensing Service reported that the product key is not available."
        ),
        cause=N_("No product key is installed."),
        fix=N_(
            "Install a key: the edition's KMS client setup key (GVLK) for KMS, or a MAK, "
            "with 'slmgr /ipk <key>'."
        ),
        procedure="key",
    ),
    MsCode(
        code=0xC004F015,
        name=N_("license not installed on the KMS host"),
        meaning=N_("The Software Licensing Service reported that the license is not installed."),
        cause=N_(
            "The KMS host does not know the client's product: its host key (CSVLK) or its "
            "updates are older than the client's version (a newer Windows or LTSC edition "
            "against an older KMS host)."
        ),
        fix=N_(
            "Install the servicing update on the KMS host that adds the new product, then a "
            "KMS host key that covers it ('slmgr /ipk <CSVLK>', 'slmgr /ato')."
        ),
        procedure="host",
        source=KNOWN_ISSUES,
    ),
    MsCode(
        code=0xC004F02C,
        name=N_("offline activation data malformed"),
        meaning=N_(
            "The Software Licensing Service reported that the format of the offline "
            "activation data is incorrect."
        ),
        cause=N_("The confirmation ID entered during phone activation is not valid."),
        fix=N_("Check the confirmation ID and enter it again ('slui 4')."),
        procedure="key",
    ),
    MsCode(
        code=0xC004F034,
        name=N_("license not found or invalid"),
        meaning=N_(
            "The Software Licensing Service reported that the license could not be found "
            "or was invalid."
        ),
        cause=N_(
            "The KMS host key does not activate this product (a host key of a lower group, "
            "or a host missing the update for a newer client), or the license files are damaged."
        ),
        fix=N_(
            "On the KMS host, install the update and the KMS host key that cover the client's "
            "version; on the client, 'slmgr /rilc' then 'slmgr /ato'."
        ),
        procedure="host",
        source=KNOWN_ISSUES,
    ),
    MsCode(
        code=0xC004F035,
        name=N_("no qualifying operating system for a volume key"),
        meaning=N_(
            "The Software Licensing Service reported that the computer could not be "
            "activated with a Volume license product key."
        ),
        cause=N_(
            "Volume-licensed desktop editions are licensed as an upgrade: the machine has no "
            "qualifying operating system (no marker in its BIOS)."
        ),
        fix=N_(
            "Install a qualifying operating system first, or activate with a key of another "
            "type (MAK or retail) as the license allows."
        ),
        procedure="key",
    ),
    MsCode(
        code=0xC004F038,
        name=N_("KMS count insufficient"),
        meaning=N_(
            "The computer could not be activated: the count reported by the KMS is insufficient."
        ),
        cause=N_("The KMS host's count is below its threshold: 5 for servers, 25 for desktops."),
        fix=N_(
            "Add machines that request activation from this host (counted within 30 days), or "
            "use MAK activation until the count is reached."
        ),
        procedure="count",
    ),
    MsCode(
        code=0xC004F039,
        name=N_("KMS not enabled (host did not answer)"),
        meaning=N_(
            "The computer could not be activated: the Key Management Service is not enabled."
        ),
        cause=N_("The KMS host did not answer the client's request."),
        fix=N_(
            "Make sure TCP 1688 is open on the KMS host and every firewall between, and that "
            "its Software Protection service runs."
        ),
        procedure="port",
    ),
    MsCode(
        code=0xC004F041,
        name=N_("KMS host not activated"),
        meaning=N_("The Software Licensing Service determined that the KMS is not activated."),
        cause=N_("The KMS host itself is not activated."),
        fix=N_("Activate the KMS host online or by phone ('slmgr /ato' on the host)."),
        procedure="host",
    ),
    MsCode(
        code=0xC004F042,
        name=N_("KMS host cannot be used for this product"),
        meaning=N_(
            "The Software Licensing Service determined that the specified KMS cannot be used."
        ),
        cause=N_(
            "The KMS host key does not cover the client's product (for example a desktop "
            "host key asked to activate a server)."
        ),
        fix=N_(
            "Install a KMS host key of a group that covers the client, or point the client "
            "at a host that has one."
        ),
        procedure="host",
    ),
    MsCode(
        code=0xC004F050,
        name=N_("invalid product key"),
        meaning=N_("The Software Licensing Service reported that the product key is invalid."),
        cause=N_("A typing error, or a key of another edition or product."),
        fix=N_("Check the key and the edition; for KMS use the edition's client setup key (GVLK)."),
        procedure="key",
    ),
    MsCode(
        code=0xC004F051,
        name=N_("product key blocked"),
        meaning=N_("The Software Licensing Service reported that the product key is blocked."),
        cause=N_("The activation server blocked the MAK."),
        fix=N_("Obtain a new MAK from the Volume Licensing Service Center."),
        procedure="key",
        mak=_MAK_BLOCKED,
    ),
    MsCode(
        code=0xC004F056,
        name=N_("KMS activation failed"),
        meaning=N_(
            "The Software Licensing Service reported that the product could not be "
            "activated using the Key Management Service."
        ),
        cause=N_(
            "The KMS host refused or could not complete the activation: host not "
            "activated, key not covering the product, or the count."
        ),
        fix=N_(
            "Look at the host's 12290 events and at 'slmgr /dlv' on the host (License "
            "status, Current count), then 'slmgr /ato' on the client."
        ),
        procedure="host",
    ),
    MsCode(
        code=0xC004F064,
        name=N_("non-genuine grace period expired"),
        meaning=N_(
            "The Software Licensing Service reported that the non-genuine grace period expired."
        ),
        cause=N_("Windows Activation Technologies found the system not genuine."),
        fix=N_("Install genuine Windows with a valid key; contact Microsoft support."),
        procedure="client",
    ),
    MsCode(
        code=0xC004F065,
        name=N_("running in the non-genuine grace period"),
        meaning=N_(
            "The Software Licensing Service reported that the application runs within the "
            "valid non-genuine period."
        ),
        cause=N_(
            "Windows Activation Technologies found the system not genuine; it keeps "
            "running during the non-genuine grace period."
        ),
        fix=N_("Install genuine Windows with a valid key."),
        procedure="client",
    ),
    MsCode(
        code=0xC004F069,
        name=N_("license not installed"),
        meaning=N_(
            "The Software Licensing Service reported that the computer could not be "
            "activated: the license is not installed."
        ),
        cause=N_(
            "The installed key's product is not installed on this machine (a key of another "
            "edition), or the license files are missing."
        ),
        fix=N_(
            "Install the key of the installed edition with 'slmgr /ipk', or 'slmgr /rilc' and "
            "restart, then 'slmgr /ato'."
        ),
        procedure="key",
    ),
    MsCode(
        code=0xC004F06C,
        name=N_("request timestamp invalid (clock skew)"),
        meaning=N_(
            "The computer could not be activated: the KMS determined that the request "
            "timestamp is invalid."
        ),
        cause=N_("The client's clock differs from the KMS host's by more than four hours."),
        fix=N_(
            "Synchronise the clocks of client and host (w32tm /resync, a common time "
            "source); the time zone does not matter, the time does."
        ),
        procedure="clock",
    ),
    MsCode(
        code=0xC004F074,
        name=N_("no KMS could be contacted"),
        meaning=N_(
            "The computer could not be activated: no Key Management Service could be contacted."
        ),
        cause=N_(
            "No KMS host could be reached: DNS has no _vlmcs._tcp record, TCP 1688 is "
            "blocked, the host's service is stopped, or the clocks differ (see the client's "
            "12288 and 12289 events)."
        ),
        fix=N_(
            "Read the Application log's 12288/12289 events for the real code; check the SRV "
            "record, TCP 1688 to the host, the host's service and both clocks."
        ),
        procedure="port",
    ),
    MsCode(
        code=0xC004F200,
        name=N_("current state not genuine"),
        meaning=N_(
            "The Software Licensing Service reported that the current state is not genuine."
        ),
        cause=N_(
            "The license store was damaged or tampered with (tokens.dat), or Windows is "
            "not genuine."
        ),
        fix=N_(
            "Rebuild the license store ('net stop sppsvc', rename "
            "%windir%\\System32\\spp\\store\\2.0\\tokens.dat, 'net start sppsvc', "
            "'slmgr /rilc'), reinstall the key with 'slmgr /ipk' and run 'slmgr /ato'."
        ),
        procedure="client",
    ),
    MsCode(
        code=0xC004F210,
        name=N_("license edition mismatch"),
        meaning=N_(
            "The Software Licensing Service reported that the license edition does not "
            "match the computer's edition."
        ),
        cause=N_("The key is for another edition than the one installed."),
        fix=N_("Install the key of the installed edition, or change edition first."),
        procedure="key",
    ),
    MsCode(
        code=0x8004FE21,
        name=N_("not genuine Windows"),
        meaning=N_("This computer is not running genuine Windows."),
        cause=N_(
            "Windows Activation Technologies found the installation not genuine, often a "
            "volume edition installed without a qualifying operating system."
        ),
        fix=N_("Install a qualifying operating system or a genuine edition with a valid key."),
        procedure="key",
    ),
    MsCode(
        code=0x80070005,
        name=N_("access denied"),
        meaning=N_("Access denied: the requested action requires elevated privileges."),
        cause=N_("slmgr or the activation was run without administrator rights."),
        fix=_ADMIN,
        procedure="client",
    ),
    MsCode(
        code=0x8007007B,
        name=N_("DNS name does not exist (invalid name)"),
        meaning=N_(
            "The file name, directory name or volume label syntax is incorrect; during "
            "KMS activation it means the DNS name does not exist."
        ),
        cause=N_(
            "The KMS client found no KMS host in DNS (no _vlmcs._tcp SRV record), or a KMS "
            "client setup key was installed where a MAK was meant."
        ),
        fix=_DNS_SRV,
        procedure="dns",
    ),
    MsCode(
        code=0x80070490,
        name=N_("product key did not work (servicing store)"),
        meaning=N_("The product key you entered did not work."),
        cause=N_("The component-based servicing store is damaged."),
        fix=N_(
            "Repair the servicing store (DISM /Online /Cleanup-Image /RestoreHealth, "
            "sfc /scannow), then install the key again."
        ),
        procedure="client",
    ),
    MsCode(
        code=0x800706BA,
        name=N_("RPC server unavailable"),
        meaning=N_("The RPC server is unavailable."),
        cause=N_(
            "A firewall blocks the KMS port, or the KMS host's name resolves to a machine "
            "that does not answer."
        ),
        fix=N_(
            "Open TCP 1688 on the host and every firewall between, and check that the "
            "host's name resolves to the right address."
        ),
        procedure="port",
    ),
    MsCode(
        code=0x8007232A,
        name=N_("DNS server failure"),
        meaning=N_("DNS server failure."),
        cause=N_("The client's DNS server failed or cannot be reached."),
        fix=N_("Troubleshoot the network and the client's DNS servers (ipconfig /all, nslookup)."),
        procedure="dns",
    ),
    MsCode(
        code=0x8007232B,
        name=N_("DNS name does not exist"),
        meaning=N_("DNS name does not exist."),
        cause=N_("The KMS client cannot find KMS SRV records in DNS."),
        fix=_DNS_SRV,
        procedure="dns",
    ),
    MsCode(
        code=0x8007251D,
        name=N_("no DNS records found"),
        meaning=N_("No records found for the given DNS query."),
        cause=N_("The KMS client cannot find a _vlmcs._tcp SRV record in its DNS domain."),
        fix=_DNS_SRV,
        procedure="dns",
    ),
    MsCode(
        code=0x8007267C,
        name=N_("no DNS servers configured"),
        meaning=N_("No DNS servers are configured for the local system."),
        cause=N_("The client has no DNS server configured."),
        fix=N_(
            "Configure a DNS server on the client (DHCP or by hand), or set the KMS host "
            "with 'slmgr /skms <host>:1688'."
        ),
        procedure="dns",
    ),
    MsCode(
        code=0x80072EE2,
        name=N_("activation server timed out"),
        meaning=N_("The operation timed out reaching the activation servers."),
        cause=N_(
            "The machine cannot reach Microsoft's activation servers on the Internet "
            "(online activation of MAK or retail keys)."
        ),
        fix=N_(
            "Check the Internet connection, proxy and firewall; or activate by phone ('slui 4')."
        ),
        procedure="port",
        mak=_MAK_NETWORK,
    ),
    MsCode(
        code=0x80072EE7,
        name=N_("activation server name not resolved"),
        meaning=N_("The server name or address could not be resolved."),
        cause=N_(
            "Online activation (MAK or retail) cannot resolve Microsoft's activation "
            "server: no Internet connection, DNS or proxy problem."
        ),
        fix=N_("Check the Internet connection, DNS and proxy; or activate by phone ('slui 4')."),
        procedure="dns",
        mak=_MAK_NETWORK,
    ),
    MsCode(
        code=0x80072F8F,
        name=N_("secure channel error (date and time)"),
        meaning=N_("A security error occurred reaching the activation servers."),
        cause=N_(
            "The machine's date and time are wrong, so the server's certificate does not verify."
        ),
        fix=N_("Set the correct date, time and time zone, then activate again."),
        procedure="clock",
    ),
    MsCode(
        code=0x8007000D,
        name=N_("invalid data in the license store"),
        meaning=N_("The data is invalid."),
        cause=N_("The license store or its permissions are damaged."),
        fix=N_("Repair the license store ('slmgr /rilc'), restart, then 'slmgr /ato'."),
        procedure="client",
    ),
)

MS_CODES: dict[int, MsCode] = {entry.code: entry for entry in _TABLE}


def ms_code(code: int) -> MsCode | None:
    """The published entry of a code, or None."""
    return MS_CODES.get(code & 0xFFFFFFFF)


def mak_fix(code: int) -> str | None:
    """The fix of a code on a Windows MAK machine, or None when it is not a MAK cause."""
    entry = ms_code(code)
    return entry.mak if entry is not None and entry.mak else None
