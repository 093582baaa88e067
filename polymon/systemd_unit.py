"""The systemd unit `polymon systemd-unit` prints: notify + watchdog, state under /var/lib/polymon,
secrets as credentials, and a sandbox that `systemd-analyze security` rates about 1.0 ("OK").

The README's "Deploy" section explains each line: what it costs and what it buys. Two choices
follow from the config the unit will run: a listen port below 1024 needs CAP_NET_BIND_SERVICE
(and so no user namespace), and an embedded store outside the state directory needs
`ReadWritePaths=` (ProtectSystem=strict makes everything else read-only).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import msgspec

from polymon import __version__
from polymon.config import CREDENTIALS, Config

STATE_DIR = "/var/lib/polymon"
CONFIG_PATH = "/etc/polymon/config.toml"
CREDENTIAL_PREFIX = "polymon."
"""Credentials are looked up by name in /etc/credstore/ (then /run/credstore/,
/usr/lib/credstore/) as `polymon.<name>`; a missing one is simply not passed."""
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")
_HIDDEN = ("/root", "/home", "/run/user")  # ProtectHome=yes


class UnitOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What the unit depends on: who runs it, which interpreter, which config."""

    python: str
    config_path: str = CONFIG_PATH
    user: str | None = None  # None: DynamicUser=yes
    http_port: int = 8787
    storage_dirs: tuple[str, ...] = ()  # embedded stores outside STATE_DIR


def options_for(cfg: Config, *, python: str, config_path: str, user: str | None) -> UnitOptions:
    """The unit's options for running `cfg` (read from `config_path`) as `user`."""
    if user is not None and (not _USER.match(user) or user == "root"):
        raise ValueError(f"--user {user!r}: expected a system user name other than root")
    dirs: tuple[str, ...] = ()
    if cfg.storage.url.startswith("chdb://"):
        path = cfg.storage.url.removeprefix("chdb://")
        if not Path(path).is_relative_to(STATE_DIR):
            dirs = (path,)
    return UnitOptions(
        python=python, config_path=config_path, user=user, http_port=cfg.http.port,
        storage_dirs=dirs,
    )  # fmt: skip


def warnings_for(options: UnitOptions) -> list[str]:
    """What will stop the unit from working on this host, one line each."""
    out = []
    if any(Path(options.python).is_relative_to(p) for p in _HIDDEN):
        out.append(
            f"{options.python} is under a home directory, which ProtectHome=yes hides from the "
            "service: install polymon into a virtualenv such as /opt/polymon (README: Deploy)"
        )
    if not Path(options.python).is_absolute():
        out.append(f"{options.python} is not an absolute path: systemd needs one")
    return out


def _identity(options: UnitOptions) -> list[str]:
    if options.user is None:
        return [
            "# A user allocated at start and released at stop: owns nothing outside the state",
            "# directory. (Implies ProtectSystem=strict, ProtectHome=read-only, PrivateTmp,",
            "# RemoveIPC, NoNewPrivileges, RestrictSUIDSGID.)",
            "DynamicUser=yes",
        ]
    return [
        f"# Create the user first: useradd --system --home-dir {STATE_DIR} --shell "
        f"/usr/sbin/nologin {options.user}",
        f"User={options.user}",
        f"Group={options.user}",
    ]


def _privileged_port(options: UnitOptions) -> tuple[list[str], list[str]]:
    """(capability lines, user-namespace lines) for the listen port."""
    if 0 < options.http_port < 1024:
        return [
            f"# http.port {options.http_port} < 1024: binding it needs this one capability.",
            "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
            "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        ], [
            "# PrivateUsers=yes would void CAP_NET_BIND_SERVICE (a capability inside a user",
            "# namespace does not reach the host's network namespace).",
        ]
    return [
        "# No capabilities at all.",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
    ], ["PrivateUsers=yes"]


def render_unit(options: UnitOptions) -> str:
    """The unit file text."""
    capabilities, users = _privileged_port(options)
    credentials = [
        f"LoadCredential={name}:{CREDENTIAL_PREFIX}{name}" for name in sorted(CREDENTIALS)
    ]
    writable = [f"ReadWritePaths={d}" for d in options.storage_dirs]
    lines = [
        f"# polymon.service, written by `polymon systemd-unit` (polymon {__version__}).",
        "# Install: README, section Deploy. Check: systemd-analyze security polymon.service",
        "[Unit]",
        "Description=polymon: live Polymarket order books, alerts and ClickHouse history",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "# READY=1 once storage is up and the first books are fresh; WATCHDOG=1 while the event",
        "# loop and the feed are alive; a stalled process is killed and restarted.",
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={options.python} -m polymon run --config {options.config_path}",
        "WatchdogSec=30",
        "TimeoutStartSec=300",
        "TimeoutStopSec=30",
        "Restart=on-failure",
        "RestartSec=5",
        "LimitNOFILE=65536",
        "",
        *_identity(options),
        "# Config in /etc/polymon (read-only here); state in /var/lib/polymon (the only",
        "# writable place besides the private /tmp).",
        "ConfigurationDirectory=polymon",
        "StateDirectory=polymon",
        "StateDirectoryMode=0700",
        "Environment=POLYMON_SERVICE__DATA_DIR=%S/polymon",
        *writable,
        "UMask=0077",
        "",
        "# Secrets: /etc/credstore/polymon.<name> (root, 0600), handed over in",
        "# $CREDENTIALS_DIRECTORY; never in this file or its environment.",
        *credentials,
        "",
        "# Sandbox (README: Deploy explains each line).",
        *capabilities,
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "PrivateMounts=yes",
        *users,
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "# polymon turns off the embedded ClickHouse JIT (compile_expressions=0 ...), so no",
        "# memory needs to be writable and executable.",
        "MemoryDenyWriteExecute=yes",
        "RemoveIPC=yes",
        "KeyringMode=private",
        "DevicePolicy=closed",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources",
        "SystemCallErrorNumber=EPERM",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def current_python() -> str:
    """The interpreter running now (the one polymon is installed for)."""
    return sys.executable
