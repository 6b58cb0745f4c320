"""Guards that keep every nft invocation out of the namespace the harness was started in."""
from __future__ import annotations

import os

# The orchestrator exports the inode of its own network namespace; a worker must be elsewhere.
PARENT_NETNS_ENV = "NFBPF_COMPAT_PARENT_NETNS"


def net_ns_inode(pid: str = "self") -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def forbidden_inodes() -> set[int]:
    found = set()
    if os.environ.get(PARENT_NETNS_ENV):
        found.add(int(os.environ[PARENT_NETNS_ENV]))
    try:
        found.add(net_ns_inode("1"))       # init's namespace, when this container lets us see it
    except OSError:
        pass
    return found


def assert_private_netns() -> None:
    """Abort unless this process runs in a network namespace of its own.

    Workers are started under `unshare --net`; this check makes a mistake in how they were started
    fail loudly instead of flushing the host's ruleset.
    """
    forbidden = forbidden_inodes()
    if not forbidden:
        raise SystemExit(f"refusing to run nft: {PARENT_NETNS_ENV} unset and /proc/1 unreadable")
    if net_ns_inode("self") in forbidden:
        raise SystemExit("refusing to run nft: this process is not in a private network namespace")
