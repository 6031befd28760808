"""Real mail servers on loopback for the tests: Debian's Dovecot (IMAP) as a child
process with a generated configuration, and aiosmtpd (SMTP) in-process.

Dovecot runs from a temporary directory: its own config, passwd-file users, Maildir
homes, base and state directories, plain IMAP (with STARTTLS) and implicit TLS on free
ports, and a self-signed certificate the client trusts only when a test says so
(``SSL_CERT_FILE``). As root it stores mail as the ``mail`` user (Dovecot refuses UID
0); otherwise as the current user. One server serves a test session; each test gets
mailboxes of its own (``Dovecot.for_test``: the next of ``MAILBOX_SETS`` sets of users
written to the passwd-file at start).
"""

import grp
import imaplib
import ipaddress
import itertools
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fairdesk.connectors.email.mailbox import quote

HOST = "127.0.0.1"
PASSWORD = "imap-secret-4471"
ROLES = ("support", "help")  # Acme's mailbox, Globex's mailbox
MAILBOX_SETS = 500
DOVECOT_CONFIG = """\
instance_name = fairdesk-test-{port}
protocols = imap
listen = {host}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{root}/tls/cert.pem
ssl_key = <{root}/tls/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = {uid}
mail_fsync = never
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
    ssl = yes
  }}
}}
"""


def dovecot_binary() -> str | None:
    found = shutil.which("dovecot")
    if found is None and Path("/usr/sbin/dovecot").exists():
        found = "/usr/sbin/dovecot"
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def write_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (cert.pem, key.pem)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Dovecot:
    """A running Dovecot. Users (all with the password ``PASSWORD``) are named by role
    (``support``, ``help``) plus the test's ``suffix``; ``login`` gives the real name."""

    root: Path
    port: int
    tls_port: int
    process: subprocess.Popen[bytes] | None = None
    host: str = HOST
    suffix: str = ""
    sets: Iterator[int] = field(default_factory=itertools.count)

    def login(self, user: str) -> str:
        return f"{user}-{self.suffix}" if self.suffix else user

    def for_test(self) -> "Dovecot":
        """This server with the next set of fresh, empty mailboxes."""
        suffix = next(self.sets)
        if suffix >= MAILBOX_SETS:
            raise RuntimeError(f"more than {MAILBOX_SETS} tests used Dovecot: raise MAILBOX_SETS")
        return replace(self, suffix=str(suffix))

    @property
    def certificate(self) -> Path:
        return self.root / "tls" / "cert.pem"

    def start(self, binary: str) -> None:
        owner = _mail_owner()
        (self.root / "tls").mkdir()
        write_certificate(self.root / "tls")
        (self.root / "users").write_text(
            "".join(
                f"{role}-{n}:{{PLAIN}}{PASSWORD}::::\n"
                for n in range(MAILBOX_SETS)
                for role in ROLES
            )
        )
        (self.root / "home").mkdir()
        os.chown(self.root / "home", owner["uid"], owner["gid"])
        config = self.root / "dovecot.conf"
        config.write_text(
            DOVECOT_CONFIG.format(
                host=HOST, root=self.root, port=self.port, tls_port=self.tls_port, **owner
            )
        )
        self.process = subprocess.Popen(
            [binary, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.log()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not start: {self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        stderr = b""
        if self.process is not None and self.process.poll() is not None and self.process.stderr:
            stderr = self.process.stderr.read()
        return (path.read_text() if path.exists() else "") + stderr.decode(errors="replace")

    def client(self, user: str = "support") -> imaplib.IMAP4:
        imap = imaplib.IMAP4(HOST, self.port, timeout=10)
        imap.login(self.login(user), PASSWORD)
        return imap

    def deliver(self, raw: bytes, *, user: str = "support", folder: str = "INBOX") -> None:
        """Put a message in ``folder`` (IMAP APPEND, with CRLF line ends like SMTP)."""
        crlf = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        imap = self.client(user)
        try:
            status, data = imap.append(quote(folder), None, None, crlf)
            assert status == "OK", data
        finally:
            imap.logout()

    def create_folder(self, folder: str, *, user: str = "support") -> None:
        imap = self.client(user)
        try:
            status, data = imap.create(quote(folder))
            assert status == "OK", data
        finally:
            imap.logout()

    def delete_folder(self, folder: str, *, user: str = "support") -> None:
        imap = self.client(user)
        try:
            status, data = imap.delete(quote(folder))
            assert status == "OK", data
        finally:
            imap.logout()

    def messages(self, folder: str = "INBOX", *, user: str = "support") -> list[dict[str, Any]]:
        """Every message of ``folder``: UID, flags and bytes (read without changing flags)."""
        imap = self.client(user)
        try:
            imap.select(quote(folder), readonly=True)
            status, data = imap.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
            assert status == "OK", data
        finally:
            imap.logout()
        return [
            {"meta": item[0].decode(), "raw": item[1]} for item in data if isinstance(item, tuple)
        ]


def _mail_owner() -> dict[str, Any]:
    """Who Dovecot runs as and stores mail as."""
    if os.geteuid() == 0:
        mail = pwd.getpwnam("mail")
        return {
            "uid": mail.pw_uid,
            "gid": mail.pw_gid,
            "internal_user": "dovecot",
            "login_user": "dovenull",
        }
    me = pwd.getpwuid(os.geteuid())
    return {
        "uid": me.pw_uid,
        "gid": grp.getgrgid(os.getegid()).gr_gid,
        "internal_user": me.pw_name,
        "login_user": me.pw_name,
    }


def start_dovecot(binary: str) -> Dovecot:
    root = Path(tempfile.mkdtemp(prefix="fd-dovecot-"))
    root.chmod(0o755)  # Dovecot's unprivileged processes must reach the homes
    server = Dovecot(root=root, port=free_port(), tls_port=free_port())
    try:
        server.start(binary)
    except BaseException:
        server.stop()
        raise
    return server


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class SmtpRecorder:
    """What the SMTP server received; ``reply`` answers the next DATA (then 250 again)."""

    received: list[Received] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # answers to the next DATA commands
    refusals: list[str] = field(default_factory=list)  # answers to the next RCPT commands
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.refusals:
            return self.refusals.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.replies:
            return self.replies.pop(0)
        content = envelope.original_content or b""
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                content=content,
            )
        )
        return "250 2.0.0 Ok: queued"

    def authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth: Any
    ) -> AuthResult:
        ok = isinstance(auth, LoginPassword) and auth.password == b"smtp-secret"
        if ok:
            self.logins.append(auth.login.decode())
        return AuthResult(success=ok, handled=False)


def start_smtp(recorder: SmtpRecorder, **options: Any) -> Controller:
    """aiosmtpd on a free loopback port (``options``: tls_context, require_starttls, …)."""
    controller = Controller(
        recorder,
        hostname=HOST,
        port=free_port(),
        authenticator=recorder.authenticate,
        auth_require_tls=False,
        **options,
    )
    controller.start()
    return controller


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
