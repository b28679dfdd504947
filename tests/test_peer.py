"""``_peer.ends_connection``: which escaping errors end one connection only (SPEC rule 31)."""

from __future__ import annotations

import sys

import trio

from trionet._peer import ends_connection

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup


def test_a_nested_group_counts_when_every_leaf_is_the_peers() -> None:
    inner = ExceptionGroup("inner", [ConnectionResetError(104, "reset")])
    group = BaseExceptionGroup("outer", [trio.BrokenResourceError(), inner])
    assert ends_connection(group, closed=False)


def test_one_leaf_of_the_users_own_makes_the_group_propagate() -> None:
    inner = ExceptionGroup("inner", [ValueError("a bug")])
    group = BaseExceptionGroup("outer", [trio.BrokenResourceError(), inner])
    assert not ends_connection(group, closed=False)


def test_a_closed_resource_error_counts_only_once_the_connection_is_closed() -> None:
    assert ends_connection(trio.ClosedResourceError(), closed=True)
    assert not ends_connection(trio.ClosedResourceError(), closed=False)
