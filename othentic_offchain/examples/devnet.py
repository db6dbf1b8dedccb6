"""The AVS `othentic devnet` serves: the three examples on the definition ids the devnet creates.

0  generic            hash a text; attesters recompute it (othentic_offchain/examples/generic)
1  price-oracle       report a price; attesters compare with their own reading (othentic_offchain/examples/price_oracle)
2  randomness-beacon  the elected operator contributes randomness (othentic_offchain/examples/randomness_beacon)
"""

from othentic_offchain.avs import Avs
from othentic_offchain.examples.generic.avs import install as install_generic
from othentic_offchain.examples.price_oracle.avs import install as install_price_oracle
from othentic_offchain.examples.randomness_beacon.avs import install as install_beacon

GENERIC, PRICE_ORACLE, BEACON = 0, 1, 2

avs = Avs("devnet")
install_generic(avs, GENERIC)
install_price_oracle(avs, PRICE_ORACLE)
install_beacon(avs, BEACON)
