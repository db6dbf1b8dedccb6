"""Example AVSs built on othentic_offchain (see examples/README.md)."""
