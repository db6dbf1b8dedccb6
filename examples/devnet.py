"""The AVS `othentic devnet` serves: the three examples on the definition ids the devnet creates.

    0  generic            hash a text; attesters recompute it (examples/generic)
    1  price-oracle       report a price; attesters compare with their own reading (examples/price_oracle)
    2  randomness-beacon  the elected operator contributes randomness (examples/randomness_beacon)
"""

from othentic_offchain.avs import Avs

from examples.generic.avs import install as install_generic
from examples.price_oracle.avs import install as install_price_oracle
from examples.randomness_beacon.avs import install as install_beacon

GENERIC, PRICE_ORACLE, BEACON = 0, 1, 2

avs = Avs("devnet")
install_generic(avs, GENERIC)
install_price_oracle(avs, PRICE_ORACLE)
install_beacon(avs, BEACON)
