"""Example AVSs built on othentic_offchain: generic tasks, a price oracle, a randomness beacon."""
