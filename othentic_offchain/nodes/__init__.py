"""The nodes operators run, one folder per role, in the order a task meets them:

* :mod:`.performer`: takes a trigger, runs the AVS's execute, signs the task, sends it to the
  aggregator (node, election of the performing operator);
* :mod:`.aggregator`: accepts tasks over JSON-RPC, collects the attesters' votes, submits the
  aggregate on-chain and recovers after a crash (node, task store, attester discovery);
* :mod:`.attester`: re-checks a task through the AVS's validate and signs a BLS vote, never two
  different votes for one task (node, vote record);
* :mod:`.common`: what they share: the aggregator-attester wire protocol, metrics and task logs,
  the start/stop lifecycle.

Chain access (RPC connections, the cached chain view, transaction sending) is in
:mod:`othentic_offchain.chain`, keys in :mod:`othentic_offchain.crypto`.
"""
