"""The pipe transport across real processes: what the contract test cannot show in one process."""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.connection import Connection

import pytest

from fate.federation.pipes import PipeTransport, pipe_mesh
from fate.federation.transport import TransportError

A, B = 1, 2


def _echo(links: dict[int, Connection]) -> None:
    me = PipeTransport(B, links)
    for i in range(3):
        me.send("job", f"back{i}", A, me.recv("job", f"ping{i}", A, timeout=30)[::-1])


def test_a_forked_party_answers_over_its_pipe_and_its_exit_ends_the_conversation() -> None:
    links = pipe_mesh((A, B))
    child = multiprocessing.get_context("fork").Process(target=_echo, args=(links[B],))
    child.start()
    links[B][A].close()  # the child's end, in this process: its exit must close the pipe
    me = PipeTransport(A, links[A])
    try:
        for i in range(3):
            me.send("job", f"ping{i}", B, f"message {i}".encode() * 1000)
            assert me.recv("job", f"back{i}", B, timeout=30) == (f"message {i}".encode() * 1000)[::-1]
        child.join(30)
        assert child.exitcode == 0
        started = time.monotonic()
        with pytest.raises(TransportError, match="timed out"):
            me.recv("job", "never", B, timeout=0.3)
        assert time.monotonic() - started < 10
        with pytest.raises(TransportError, match="party 2 cannot be reached"):
            for _ in range(100):  # the first writes may still fill the pipe's buffer
                me.send("job", "late", B, b"x" * 65536)
    finally:
        me.close()
        child.join(5)


def test_the_star_links_only_the_pairs_it_names() -> None:
    links = pipe_mesh((A, B, 3), [(A, B), (A, 3)])
    assert sorted(links[A]) == [B, 3] and list(links[B]) == [A] and list(links[3]) == [A]
    spoke = PipeTransport(B, links[B])
    with pytest.raises(TransportError, match="no route to party 3"):
        spoke.send("job", "t", 3, b"x")
    spoke.close()
