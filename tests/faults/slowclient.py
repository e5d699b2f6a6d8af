"""Misbehaving HTTP clients over bare sockets: slowloris heads and bodies, silence, slow readers."""

from __future__ import annotations

import socket
import time


def closed_by_peer(sock: socket.socket) -> bool:
    """True when the server has closed the connection (EOF or reset), without blocking."""
    sock.setblocking(False)
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)
    return data == b"" or closed_by_peer(sock)


def trickle(port: int, payload: bytes, interval_s: float, limit_s: float) -> tuple[float, int, bytes]:
    """Send ``payload`` one byte every ``interval_s`` until the server closes the connection or
    ``limit_s`` passes. Returns (seconds until closed, or inf; bytes sent; what the server said)."""
    started = time.monotonic()
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        while time.monotonic() - started < limit_s:
            if sent < len(payload):
                try:
                    sock.send(payload[sent : sent + 1])
                    sent += 1
                except OSError:
                    return time.monotonic() - started, sent, answer
            time.sleep(interval_s)
            sock.setblocking(False)
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                data = None
            except OSError:
                return time.monotonic() - started, sent, answer
            finally:
                sock.setblocking(True)
            if data is not None:
                answer += data
                if data == b"":
                    return time.monotonic() - started, sent, answer
    return float("inf"), sent, answer


def silent(port: int, limit_s: float) -> float:
    """Connect and say nothing; seconds until the server hangs up (inf if it never does)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=limit_s) as sock:
        try:
            while sock.recv(65536):
                pass
        except TimeoutError:
            return float("inf")
        except OSError:
            pass
    return time.monotonic() - started
