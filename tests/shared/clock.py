"""The Redis server's clock, the one the shared gate's scripts decide on: tests bracket what
the scripts answered with it, so their assertions hold however long the exchanges took.

    began = server_time(redis_server)
    ...                                          # calls through a shared gate
    elapsed = server_time(redis_server) - began  # what the server's clock moved meanwhile
"""

from __future__ import annotations

from tests.redis_server import RedisServer


def server_time(server: RedisServer) -> float:
    """``TIME``, in seconds (a blocking round trip of a few microseconds on loopback: it never
    hands the loop, virtual or not, a moment to move its clock)."""
    # *2 $<n> <seconds> $<n> <microseconds>
    parts = server.command("TIME").split(b"\r\n")
    return int(parts[2]) + int(parts[4]) / 1e6
