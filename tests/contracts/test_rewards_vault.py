"""contracts/RewardsVault.sol: funding, pay-outs by the attestation center only, the one-time
wiring to the center, and its views, on anvil.

Most tests use a standalone vault deployed by ``deployer`` whose "attestation center" is a plain
account, so that ``payOut`` can be called directly; the last ones check the vault of a deployed
network. Claims through the center are in ``test_attestation_center.py``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.network import TOKEN
from tests.reverts import reverts_with

ZERO_ADDRESS = "0x" + "00" * 20


@pytest.fixture(scope="module")
def deployer(accounts):
    return accounts[0]


@pytest.fixture(scope="module")
def center(accounts):
    """Stands in for the attestation center: the only account that may pay out."""
    return accounts[5]


@pytest.fixture(scope="module")
def funder(accounts):
    return accounts[6]


@pytest.fixture(scope="module")
def stranger(accounts):
    return accounts[7]


@pytest.fixture(scope="module")
def token(project, deployer):
    return project.TestToken.deploy("Reward", "RWD", sender=deployer)


@pytest.fixture(scope="module")
def fresh_vault(project, token, deployer):
    """A vault with no attestation center yet."""
    return project.RewardsVault.deploy(token.address, sender=deployer)


@pytest.fixture(scope="module")
def vault(project, token, deployer, center):
    """A vault wired to ``center``."""
    vault = project.RewardsVault.deploy(token.address, sender=deployer)
    vault.setAttestationCenter(center.address, sender=deployer)
    return vault


def balance_of(vault) -> int:
    # Ape's ContractInstance.balance (the ether balance) hides the vault's own balance() view.
    return int(vault.call_view_method("balance"))


def fund(token, vault, funder, amount: int):
    token.mint(funder.address, amount, sender=funder)
    token.approve(vault.address, amount, sender=funder)
    return vault.fund(amount, sender=funder)


def test_views_after_deployment(fresh_vault, token, deployer):
    assert fresh_vault.rewardToken() == token.address
    assert fresh_vault.deployer() == deployer.address
    assert fresh_vault.attestationCenter() == ZERO_ADDRESS
    assert balance_of(fresh_vault) == 0


def test_constructor_reverts_ZeroAddress_for_the_zero_token(project, fresh_vault, deployer):
    with reverts_with(fresh_vault.ZeroAddress):
        project.RewardsVault.deploy(ZERO_ADDRESS, sender=deployer)


def test_balance_reads_the_token_balance_including_direct_transfers(vault, token, funder):
    fund(token, vault, funder, 5 * TOKEN)
    token.mint(vault.address, 2 * TOKEN, sender=funder)  # sent without fund(): still the vault's
    assert balance_of(vault) == 7 * TOKEN == token.balanceOf(vault.address)


# --- fund ----------------------------------------------------------------------------------------------


def test_fund_moves_tokens_in_and_emits_Funded(vault, token, funder):
    receipt = fund(token, vault, funder, 3 * TOKEN)
    [event] = receipt.events.filter(vault.Funded)
    assert (event["from"], event.amount, event.balance) == (funder.address, 3 * TOKEN, 3 * TOKEN)
    assert token.balanceOf(funder.address) == 0
    receipt = fund(token, vault, funder, TOKEN)
    [event] = receipt.events.filter(vault.Funded)
    assert (event.amount, event.balance) == (TOKEN, 4 * TOKEN)
    assert balance_of(vault) == 4 * TOKEN


def test_anyone_may_fund_even_before_the_center_is_set(fresh_vault, token, stranger):
    fund(token, fresh_vault, stranger, TOKEN)
    assert balance_of(fresh_vault) == TOKEN


def test_fund_reverts_ZeroAmount(vault, funder, reverts_with):
    with reverts_with(vault.ZeroAmount):
        vault.fund(0, sender=funder, skip_trace=True)


def test_fund_without_allowance_reverts_with_the_token_error(vault, token, funder, reverts_with):
    token.mint(funder.address, TOKEN, sender=funder)
    with reverts_with(token.ERC20InsufficientAllowance, vault.address, 0, TOKEN):
        vault.fund(TOKEN, sender=funder, skip_trace=True)
    assert balance_of(vault) == 0


# --- setAttestationCenter ----------------------------------------------------------------------------


def test_setAttestationCenter_sets_it_once_and_emits_AttestationCenterSet(fresh_vault, deployer, center, reverts_with):
    receipt = fresh_vault.setAttestationCenter(center.address, sender=deployer)
    assert [e.attestationCenter for e in receipt.events.filter(fresh_vault.AttestationCenterSet)] == [center.address]
    assert fresh_vault.attestationCenter() == center.address
    with reverts_with(fresh_vault.AttestationCenterAlreadySet, center.address):
        fresh_vault.setAttestationCenter(deployer.address, sender=deployer, skip_trace=True)
    with reverts_with(fresh_vault.AttestationCenterAlreadySet, center.address):
        fresh_vault.setAttestationCenter(center.address, sender=deployer, skip_trace=True)
    assert fresh_vault.attestationCenter() == center.address


def test_setAttestationCenter_reverts_NotDeployer_for_anyone_but_the_deployer(fresh_vault, stranger, center, reverts_with):
    with reverts_with(fresh_vault.NotDeployer, stranger.address):
        fresh_vault.setAttestationCenter(stranger.address, sender=stranger, skip_trace=True)
    with reverts_with(fresh_vault.NotDeployer, center.address):
        fresh_vault.setAttestationCenter(center.address, sender=center, skip_trace=True)
    assert fresh_vault.attestationCenter() == ZERO_ADDRESS


def test_setAttestationCenter_reverts_ZeroAddress(fresh_vault, deployer, reverts_with):
    with reverts_with(fresh_vault.ZeroAddress):
        fresh_vault.setAttestationCenter(ZERO_ADDRESS, sender=deployer, skip_trace=True)
    assert fresh_vault.attestationCenter() == ZERO_ADDRESS


# --- payOut --------------------------------------------------------------------------------------------


def test_payOut_by_the_center_pays_and_emits_PaidOut(vault, token, funder, center, stranger):
    fund(token, vault, funder, 10 * TOKEN)
    receipt = vault.payOut(stranger.address, 4 * TOKEN, sender=center)
    [event] = receipt.events.filter(vault.PaidOut)
    assert (event.to, event.amount, event.balance) == (stranger.address, 4 * TOKEN, 6 * TOKEN)
    assert token.balanceOf(stranger.address) == 4 * TOKEN
    assert balance_of(vault) == 6 * TOKEN


def test_payOut_of_the_whole_balance(vault, token, funder, center, stranger):
    fund(token, vault, funder, 3 * TOKEN)
    receipt = vault.payOut(stranger.address, 3 * TOKEN, sender=center)
    assert receipt.events.filter(vault.PaidOut)[0].balance == 0
    assert balance_of(vault) == 0


def test_payOut_reverts_NotAttestationCenter_for_anyone_else(vault, token, funder, deployer, stranger, reverts_with):
    fund(token, vault, funder, TOKEN)
    for caller in (stranger, deployer, funder):
        with reverts_with(vault.NotAttestationCenter, caller.address):
            vault.payOut(caller.address, TOKEN, sender=caller, skip_trace=True)
    assert balance_of(vault) == TOKEN


def test_payOut_reverts_NotAttestationCenter_before_the_center_is_set(fresh_vault, token, funder, deployer, reverts_with):
    fund(token, fresh_vault, funder, TOKEN)
    with reverts_with(fresh_vault.NotAttestationCenter, deployer.address):
        fresh_vault.payOut(deployer.address, TOKEN, sender=deployer, skip_trace=True)


def test_payOut_reverts_InsufficientRewardsBalance(vault, token, funder, center, stranger, reverts_with):
    with reverts_with(vault.InsufficientRewardsBalance, 1, 0):
        vault.payOut(stranger.address, 1, sender=center, skip_trace=True)
    fund(token, vault, funder, 2 * TOKEN)
    with reverts_with(vault.InsufficientRewardsBalance, 2 * TOKEN + 1, 2 * TOKEN):
        vault.payOut(stranger.address, 2 * TOKEN + 1, sender=center, skip_trace=True)
    assert balance_of(vault) == 2 * TOKEN
    assert token.balanceOf(stranger.address) == 0


def test_payOut_reverts_ZeroAddress(vault, token, funder, center, reverts_with):
    fund(token, vault, funder, TOKEN)
    with reverts_with(vault.ZeroAddress):
        vault.payOut(ZERO_ADDRESS, TOKEN, sender=center, skip_trace=True)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.booleans(), st.integers(1, 5 * TOKEN)), min_size=1, max_size=6))
def test_property_vault_balance_is_funded_minus_paid_and_never_pays_more_than_it_holds(
    chain, vault, token, funder, center, stranger, reverts_with, steps
):
    snapshot = chain.snapshot()
    try:
        expected_balance, paid = 0, 0
        for is_fund, amount in steps:
            if is_fund:
                fund(token, vault, funder, amount)
                expected_balance += amount
            elif amount > expected_balance:
                with reverts_with(vault.InsufficientRewardsBalance, amount, expected_balance):
                    vault.payOut(stranger.address, amount, sender=center, skip_trace=True)
            else:
                vault.payOut(stranger.address, amount, sender=center)
                expected_balance -= amount
                paid += amount
            assert balance_of(vault) == expected_balance
            assert token.balanceOf(stranger.address) == paid
    finally:
        chain.restore(snapshot)


# --- the vault of a deployed network -------------------------------------------------------------------


def test_network_vault_is_wired_to_its_center_for_good(net, reverts_with):
    assert net.vault.attestationCenter() == net.center.address
    assert net.vault.rewardToken() == net.reward_token.address
    assert net.center.rewardsVault() == net.vault.address
    assert net.vault.deployer() == net.admin.address
    with reverts_with(net.vault.AttestationCenterAlreadySet, net.center.address):
        net.vault.setAttestationCenter(net.admin.address, sender=net.admin, skip_trace=True)


def test_network_vault_pays_out_only_through_the_center(net, reverts_with):
    net.fund_rewards(10 * TOKEN)
    with reverts_with(net.vault.NotAttestationCenter, net.admin.address):
        net.vault.payOut(net.admin.address, TOKEN, sender=net.admin, skip_trace=True)
    assert balance_of(net.vault) == 10 * TOKEN
