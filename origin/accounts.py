"""Accounts: users with argon2id password hashes and roles, and the session revocation list (SQLite)."""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from streamfleet.sessions import ROLES

from .config import AccountSettings
from .errors import AccountError, AccountExists, InvalidCredentials
from .sqlite import Database

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.@+-]{2,63}$")
MAX_PASSWORD = 1024

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE users (
            id TEXT PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL,
            created REAL NOT NULL)""",
        """CREATE TABLE revoked_sessions (
            session_id TEXT PRIMARY KEY,
            expires_at INTEGER NOT NULL)""",
    ),
)


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    role: str
    created: float


def normalize_username(username: str) -> str:
    return username.strip().lower()


class AccountStore:
    """Users and revoked sessions. Safe across threads; every method may block (argon2, SQLite)."""

    def __init__(self, path: Path, settings: AccountSettings, clock: Callable[[], float] = time.time) -> None:
        self._db = Database(path, MIGRATIONS)
        self._settings = settings
        self._clock = clock
        self._hasher = PasswordHasher(time_cost=settings.argon2_time_cost,
                                      memory_cost=settings.argon2_memory_kib,
                                      parallelism=settings.argon2_parallelism)
        # Verified against when the username is unknown, so both cases cost the same time.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def close(self) -> None:
        self._db.close()

    def create(self, username: str, password: str, role: str) -> Account:
        """A new account. Raises AccountError (bad username/password/role) or AccountExists."""
        name = normalize_username(username)
        if not USERNAME_RE.match(name):
            raise AccountError("username must be 3-64 characters: letters, digits and _ . @ + -")
        if not self._settings.min_password_length <= len(password) <= MAX_PASSWORD:
            raise AccountError(f"password must be {self._settings.min_password_length}-{MAX_PASSWORD} "
                               "characters")
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}")
        account = Account(secrets.token_hex(8), name, role, self._clock())
        password_hash = self._hasher.hash(password)
        try:
            with self._db.write() as conn:
                conn.execute("INSERT INTO users (id, username, password_hash, role, created) "
                             "VALUES (?, ?, ?, ?, ?)",
                             (account.id, name, password_hash, role, account.created))
        except sqlite3.IntegrityError:
            raise AccountExists("that username cannot be used; choose another") from None
        return account

    def authenticate(self, username: str, password: str) -> Account:
        """The account whose password this is. Raises InvalidCredentials, which says nothing about
        whether the username exists (and takes as long either way)."""
        rows = self._db.rows("SELECT id, username, password_hash, role, created FROM users "
                             "WHERE username = ?", (normalize_username(username),))
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
                conn.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                             (self._hasher.hash(password), uid))
        return Account(str(uid), str(name), str(role), float(created))

    def get(self, user_id: str) -> Account | None:
        """The account ``user_id``; None when it was deleted."""
        rows = self._db.rows("SELECT id, username, role, created FROM users WHERE id = ?", (user_id,))
        if not rows:
            return None
        uid, name, role, created = rows[0]
        return Account(str(uid), str(name), str(role), float(created))

    def set_role(self, username: str, role: str) -> Account:
        """Change a user's role (new sessions carry it). Raises AccountError."""
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}")
        with self._db.write() as conn:
            cursor = conn.execute("UPDATE users SET role = ? WHERE username = ?",
                                  (role, normalize_username(username)))
            if cursor.rowcount == 0:
                raise AccountError(f"no account {username!r}")
        rows = self._db.rows("SELECT id FROM users WHERE username = ?", (normalize_username(username),))
        account = self.get(str(rows[0][0]))
        assert account is not None
        return account

    # -- revocation ------------------------------------------------------------------------
    def revoke(self, session_id: str, expires_at: int) -> None:
        """Put a session on the revocation list until it would have expired anyway."""
        with self._db.write() as conn:
            conn.execute("INSERT OR IGNORE INTO revoked_sessions (session_id, expires_at) VALUES (?, ?)",
                         (session_id, expires_at))
            # Expired sessions fail verification on their own; no need to remember them.
            conn.execute("DELETE FROM revoked_sessions WHERE expires_at < ?", (int(self._clock()) - 3600,))

    def is_revoked(self, session_id: str) -> bool:
        return bool(self._db.rows("SELECT 1 FROM revoked_sessions WHERE session_id = ?", (session_id,)))
