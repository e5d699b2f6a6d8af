"""Accounts: users with argon2id password hashes and roles, and the session revocation list (SQL)."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from streamfleet.sessions import ROLES

from .config import AccountSettings
from .db import Database, table_exists
from .errors import AccountError, AccountExists, InvalidCredentials

# What sign-up accepts, exactly (ASCII, no surrounding space); stored lowercased.
USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{2,63}")
MAX_PASSWORD = 1024



def _legacy_revision(conn: Connection) -> str | None:
    """An accounts file made before Alembic (schema_version 1) has exactly the first revision."""
    if table_exists(conn, "schema_version") and table_exists(conn, "users"):
        return "accounts_0001"
    return None


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    role: str
    created: float


def normalize_username(username: str) -> str:
    return username.strip().lower()


class AccountStore:
    """Users and revoked sessions. Safe across threads and processes; every method may block
    (argon2, the database). ``target``: a SQLite file, a database URL or a shared Database."""

    def __init__(self, target: Path | str | Database, settings: AccountSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self._owned = not isinstance(target, Database)
        self._db = target if isinstance(target, Database) else Database(target)
        try:
            self._db.upgrade("accounts@head", _legacy_revision)
        except BaseException:
            self.close()
            raise
        self._settings = settings
        self._clock = clock
        self._hasher = PasswordHasher(time_cost=settings.argon2_time_cost,
                                      memory_cost=settings.argon2_memory_kib,
                                      parallelism=settings.argon2_parallelism)
        # Verified against when the username is unknown, so both cases cost the same time.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def close(self) -> None:
        if self._owned:
            self._db.close()

    def create(self, username: str, password: str, role: str) -> Account:
        """A new account. Raises AccountError (bad username/password/role) or AccountExists."""
        if not USERNAME_RE.fullmatch(username):
            raise AccountError("username must be 3-64 characters: letters, digits and _ . @ + -")
        if not self._settings.min_password_length <= len(password) <= MAX_PASSWORD:
            raise AccountError(f"password must be {self._settings.min_password_length}-{MAX_PASSWORD} "
                               "characters")
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}")
        name = normalize_username(username)
        account = Account(secrets.token_hex(8), name, role, self._clock())
        password_hash = self._hasher.hash(password)
        try:
            with self._db.write() as conn:
                conn.execute(sa.text("INSERT INTO users (id, username, password_hash, role, created) "
                                     "VALUES (:id, :username, :hash, :role, :created)"),
                             {"id": account.id, "username": name, "hash": password_hash, "role": role,
                              "created": account.created})
        except IntegrityError:
            raise AccountExists("that username cannot be used; choose another") from None
        return account

    def authenticate(self, username: str, password: str) -> Account:
        """The account whose password this is. Raises InvalidCredentials, which says nothing about
        whether the username exists (and takes as long either way)."""
        rows = self._db.rows("SELECT id, username, password_hash, role, created FROM users "
                             "WHERE username = :username", {"username": normalize_username(username)})
        stored = rows[0][2] if rows else self._dummy_hash
        try:
            self._hasher.verify(stored, password[:MAX_PASSWORD])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise InvalidCredentials("wrong username or password") from None
        if not rows:
            raise InvalidCredentials("wrong username or password")
        uid, name, password_hash, role, created = rows[0]
        if self._hasher.check_needs_rehash(password_hash):
            # Cost parameters were raised since this hash was made: upgrade it now we know the password.
            with self._db.write() as conn:
                conn.execute(sa.text("UPDATE users SET password_hash = :hash WHERE id = :id"),
                             {"hash": self._hasher.hash(password), "id": uid})
        return Account(str(uid), str(name), str(role), float(created))

    def get(self, user_id: str) -> Account | None:
        """The account ``user_id``; None when it was deleted."""
        rows = self._db.rows("SELECT id, username, role, created FROM users WHERE id = :id", {"id": user_id})
        if not rows:
            return None
        uid, name, role, created = rows[0]
        return Account(str(uid), str(name), str(role), float(created))

    def set_role(self, username: str, role: str) -> Account:
        """Change a user's role (new sessions carry it). Raises AccountError."""
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}")
        with self._db.write() as conn:
            result = conn.execute(sa.text("UPDATE users SET role = :role WHERE username = :username"),
                                  {"role": role, "username": normalize_username(username)})
            if result.rowcount == 0:
                raise AccountError(f"no account {username!r}")
        rows = self._db.rows("SELECT id FROM users WHERE username = :username",
                             {"username": normalize_username(username)})
        account = self.get(str(rows[0][0]))
        assert account is not None
        return account

    # -- revocation ------------------------------------------------------------------------
    def revoke(self, session_id: str, expires_at: int) -> None:
        """Put a session on the revocation list until it would have expired anyway."""
        with self._db.write() as conn:
            conn.execute(sa.text("INSERT INTO revoked_sessions (session_id, expires_at) "
                                 "VALUES (:id, :expires) ON CONFLICT DO NOTHING"),
                         {"id": session_id, "expires": expires_at})
            # Expired sessions fail verification on their own; no need to remember them.
            conn.execute(sa.text("DELETE FROM revoked_sessions WHERE expires_at < :cutoff"),
                         {"cutoff": int(self._clock()) - 3600})

    def is_revoked(self, session_id: str) -> bool:
        return bool(self._db.rows("SELECT 1 FROM revoked_sessions WHERE session_id = :id",
                                  {"id": session_id}))
