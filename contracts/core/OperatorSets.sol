// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../libraries/BN254.sol";
import {CenterStorage} from "./CenterStorage.sol";

/// @title OperatorSets
/// @notice The bookkeeping of operator sets, shared by the OperatorRegistry and TaskDefinitions
///         modules (see `docs/contracts/OperatorRegistry.md`, "Operator sets").
/// @dev    Set 0 holds every active operator. A task definition that restricts its attesters or asks
///         for a minimum voting power gets a set of its own, whose membership is
///         `active && (listed || !restricted) && stake >= minimumStake`. Every operator change (join,
///         stake, key, exit, slash) is applied to set 0, to the restricted sets that list the
///         operator and to the open sets with a minimum; each set keeps its aggregate G1 key, total
///         power and member count exact. Both lists are bounded, so a change costs bounded gas.
///
///         Attester rewards: a member earns `rewardIndex - checkpoint` while in a set; leaving
///         settles that into the account's credit. Non-signers are charged (`debit`) by submissions.
abstract contract OperatorSets is CenterStorage {
    /// @notice Restricted sets that may list one operator.
    uint256 public constant MAX_LISTED_SETS_PER_OPERATOR = 16;
    /// @notice Open sets with a minimum stake (each one is checked on every operator change).
    uint256 public constant MAX_OPEN_SETS = 8;

    /// @dev The module's own address: its functions only make sense inside the center's storage.
    address private immutable _self = address(this);

    error NotDelegated();

    /// @dev What an operator looked like before and after a change.
    struct Change {
        uint32 id;
        address account;
        bool wasActive;
        bool isActive;
        uint96 oldStake;
        uint96 newStake;
        BN254.G1Point oldKey;
        BN254.G1Point newKey;
        bool keyChanged;
    }

    /// @dev Called on the module directly, a function would act on the module's own empty storage
    ///      (and keep any tokens sent along): refuse.
    modifier onlyDelegated() {
        if (address(this) == _self) revert NotDelegated();
        _;
    }

    function _snapshot(uint32 id) internal view returns (Change memory change) {
        OperatorState memory state = _opState[id];
        change.id = id;
        change.account = _opInfo[id].account;
        change.wasActive = state.status == STATUS_ACTIVE;
        change.isActive = change.wasActive;
        change.oldStake = state.stake;
        change.newStake = state.stake;
        change.oldKey = _pkG1[id];
        change.newKey = change.oldKey;
    }

    /// @dev Applies one operator change to every set it can affect.
    function _applyChange(Change memory change) internal {
        _updateMembership(0, change, change.isActive);
        uint32[] storage listed = _listedSets[change.id];
        for (uint256 i; i < listed.length; ++i) {
            uint32 setId = listed[i];
            _updateMembership(setId, change, change.isActive && change.newStake >= _setConfig[setId].minimumStake);
        }
        uint256 open = _openSets.length;
        for (uint256 i; i < open; ++i) {
            uint32 setId = _openSets[i];
            _updateMembership(setId, change, change.isActive && change.newStake >= _setConfig[setId].minimumStake);
        }
    }

    function _updateMembership(uint32 setId, Change memory change, bool isMember) internal {
        Membership storage membership = _membership[setId][change.id];
        bool wasMember = membership.member;
        if (!wasMember && !isMember) return;
        SetState storage set = _sets[setId];
        if (wasMember && isMember) {
            if (change.newStake != change.oldStake) {
                set.totalPower = set.totalPower - change.oldStake + change.newStake;
                emit OperatorSetMembershipChanged(setId, change.id, true, set.totalPower);
            }
            if (change.keyChanged) {
                _setApk[setId] = BN254.plus(BN254.plus(_setApk[setId], BN254.negate(change.oldKey)), change.newKey);
                delete _setApkG2Hash[setId];
            }
            return;
        }
        if (isMember) {
            set.totalPower += change.newStake;
            set.memberCount += 1;
            _setApk[setId] = BN254.plus(_setApk[setId], change.newKey);
            membership.member = true;
            membership.checkpoint = set.rewardIndex;
        } else {
            set.totalPower -= change.oldStake;
            set.memberCount -= 1;
            _setApk[setId] = BN254.plus(_setApk[setId], BN254.negate(change.oldKey));
            membership.member = false;
            _accounts[change.account].credit += set.rewardIndex - membership.checkpoint;
        }
        delete _setApkG2Hash[setId];
        emit OperatorSetMembershipChanged(setId, change.id, isMember, set.totalPower);
    }

    /// @dev A new set: restricted to `listed` (strictly increasing, already checked), or open to
    ///      every active operator with at least `minimumStake`.
    function _createSet(bool restricted, uint96 minimumStake, uint32[] memory listed) internal returns (uint32 setId) {
        setId = ++_lastSetId;
        _setConfig[setId] = SetConfig({exists: true, restricted: restricted, retired: false, minimumStake: minimumStake});
        if (restricted) {
            for (uint256 i; i < listed.length; ++i) {
                uint32 id = listed[i];
                if (_listedSets[id].length >= MAX_LISTED_SETS_PER_OPERATOR) {
                    revert TooManyOperatorSets(id, MAX_LISTED_SETS_PER_OPERATOR);
                }
                _listedSets[id].push(setId);
                _setListedIds[setId].push(id);
                _membership[setId][id].listed = true;
                _joinIfEligible(setId, id, minimumStake);
            }
        } else {
            if (_openSets.length >= MAX_OPEN_SETS) revert TooManyOperatorSets(0, MAX_OPEN_SETS);
            _openSets.push(setId);
            uint256 count = _activeIds.length;
            for (uint256 i; i < count; ++i) {
                _joinIfEligible(setId, _activeIds[i], minimumStake);
            }
        }
    }

    function _joinIfEligible(uint32 setId, uint32 id, uint96 minimumStake) private {
        OperatorState memory state = _opState[id];
        if (state.status != STATUS_ACTIVE || state.stake < minimumStake) return;
        _updateMembership(setId, _snapshot(id), true);
    }

    /// @dev Stops maintaining a set (its task definition moved to a new one): members leave it with
    ///      their rewards settled, and it drops out of the lists walked on every change.
    function _retireSet(uint32 setId) internal {
        SetConfig storage config = _setConfig[setId];
        config.retired = true;
        if (config.restricted) {
            uint32[] storage listed = _setListedIds[setId];
            for (uint256 i; i < listed.length; ++i) {
                uint32 id = listed[i];
                _leaveIfMember(setId, id);
                _removeValue(_listedSets[id], setId);
            }
        } else {
            _removeValue(_openSets, setId);
            uint256 count = _activeIds.length;
            for (uint256 i; i < count; ++i) {
                _leaveIfMember(setId, _activeIds[i]);
            }
        }
    }

    function _leaveIfMember(uint32 setId, uint32 id) private {
        if (_membership[setId][id].member) _updateMembership(setId, _snapshot(id), false);
    }

    function _removeValue(uint32[] storage values, uint32 value) private {
        uint256 length = values.length;
        for (uint256 i; i < length; ++i) {
            if (values[i] == value) {
                values[i] = values[length - 1];
                values.pop();
                return;
            }
        }
    }

    /// @dev Takes an aggregator off the list (opting out, leaving, ejection). Swap and pop: the last
    ///      aggregator moves into the gap, a deterministic order that anyone replaying the
    ///      AggregatorOptedIn/AggregatorOptedOut events rebuilds.
    function _removeAggregator(address account, uint32 id, uint16 positionPlusOne) internal {
        uint16 position = positionPlusOne - 1;
        uint16 last = _aggregatorConfig.count - 1;
        if (position != last) {
            uint32 moved = _aggregatorAt[last];
            _aggregatorAt[position] = moved;
            _accounts[_opInfo[moved].account].aggregatorPosition = positionPlusOne;
        }
        delete _aggregatorAt[last];
        _aggregatorConfig.count = last;
        if (last == 0) _sets[0].flags &= ~HAS_AGGREGATORS;
        _accounts[account].aggregatorPosition = 0;
        delete _aggregatorEndpoint[id];
        emit AggregatorOptedOut(id, account, position);
    }

    /// @notice Members of a set in increasing id order, with their stakes (= voting power).
    function _setMembers(uint32 setId) internal view returns (uint32[] memory ids, uint96[] memory stakes) {
        if (!_setConfig[setId].exists) revert UnknownOperatorSet(setId);
        uint32 count = _sets[setId].memberCount;
        ids = new uint32[](count);
        stakes = new uint96[](count);
        uint256 found;
        for (uint32 id = 1; id <= _lastOperatorId && found < count; ++id) {
            if (_membership[setId][id].member) {
                ids[found] = id;
                stakes[found] = _opState[id].stake;
                ++found;
            }
        }
    }
}
