"""Off-chain half of the AVS task network: crypto, chain client, nodes, CLI."""

import sys as _sys

import py_ecc as _py_ecc  # noqa: F401  (imported here once, so its side effect is undone once)

__version__ = "0.1.0"

#: py_ecc raises the recursion limit to 100,000 when imported; a parser recursing that deep
#: overflows the C stack (the process dies, status 139) instead of raising RecursionError.
#: Every node and CLI entry imports this package first: put a sane limit back.
RECURSION_LIMIT = 1000
if _sys.getrecursionlimit() > RECURSION_LIMIT:
    _sys.setrecursionlimit(RECURSION_LIMIT)
