"""Differential compatibility harness: the real nft against the kernel and against nfbpfd."""
