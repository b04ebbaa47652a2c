// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControlDefaultAdminRules} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IDeviceRegistry} from "./IDeviceRegistry.sol";

/**
 * @title DeviceRegistry
 * @notice Zero-trust registry of IoT devices: registrations, attestations, suspensions and
 * revocations, each advancing a per-device tamper-evident history head. See {IDeviceRegistry}.
 *
 * Single and batch functions share one private path per operation; the private path takes the
 * item's batch index (or `_SINGLE`) so that a failing batch item reverts with
 * {DeviceRegistryBatchItemFailed} naming its index and carrying the item's own error.
 */
contract DeviceRegistry is IDeviceRegistry, AccessControlDefaultAdminRules {
    /// @inheritdoc IDeviceRegistry
    bytes32 public constant MANUFACTURER_ROLE = keccak256("MANUFACTURER_ROLE");
    /// @inheritdoc IDeviceRegistry
    bytes32 public constant SECURITY_OFFICER_ROLE = keccak256("SECURITY_OFFICER_ROLE");

    bytes32 private constant _ATTESTER_ROLE = "ATTESTER_ROLE";
    uint8 private constant _MAX_KEY_ALGORITHM = 3;
    uint8 private constant _MAX_REASON = 8;
    uint256 private constant _SINGLE = type(uint256).max;

    // The device word is hand-packed with exactly the layout Solidity gives {Device} in one slot
    // (manufacturer: bits 0-159, status 160-167, keyAlgorithm 168-175, registeredAt 176-223,
    // eventCount 224-255), so the typed views read it back as a struct. Reading and writing the
    // raw word once per call instead of through memory structs saves ~300-900 gas per device,
    // which is what brings a batch registration under 50,000 gas per device (docs/gas.md).
    uint256 private constant _STATUS_SHIFT = 160;
    uint256 private constant _KEY_ALGORITHM_SHIFT = 168;
    uint256 private constant _REGISTERED_AT_SHIFT = 176;
    uint256 private constant _STATUS_MASK = 0xff << _STATUS_SHIFT;
    uint256 private constant _KEY_ALGORITHM_MASK = 0xff << _KEY_ALGORITHM_SHIFT;
    /// @dev eventCount is the topmost field: adding this wraps exactly like an unchecked uint32 `++`.
    uint256 private constant _ONE_EVENT = 1 << 224;
    uint256 private constant _NONE = uint256(DeviceStatus.None);
    uint256 private constant _ACTIVE = uint256(DeviceStatus.Active);
    uint256 private constant _SUSPENDED = uint256(DeviceStatus.Suspended);
    uint256 private constant _REVOKED = uint256(DeviceStatus.Revoked);
    // The attestation word, same idea ({Attestation}: attester 0-159, issuedAt 160-199,
    // expiresAt 200-239, revoked 240-247).
    uint256 private constant _ISSUED_AT_SHIFT = 160;
    uint256 private constant _EXPIRES_AT_SHIFT = 200;
    uint256 private constant _REVOKED_FLAG = 1 << 240;

    /// @dev A device's two storage words side by side: one mapping lookup finds both.
    struct DeviceRecord {
        Device device; // one packed word, see above
        bytes32 head; // the history head
    }

    mapping(bytes32 deviceId => DeviceRecord) private _records;
    mapping(bytes32 deviceId => mapping(bytes32 uid => Attestation)) private _attestations;

    /**
     * @param initialAdminDelay Delay (seconds) of a two-step admin transfer.
     * @param initialAdmin The first admin, who grants the other roles.
     */
    constructor(
        uint48 initialAdminDelay,
        address initialAdmin
    ) AccessControlDefaultAdminRules(initialAdminDelay, initialAdmin) {}

    /// @inheritdoc IDeviceRegistry
    function attesterRole(bytes32 kind) public pure returns (bytes32 role) {
        // keccak256(abi.encode(_ATTESTER_ROLE, kind)), hashed in scratch space
        assembly ("memory-safe") {
            mstore(0x00, _ATTESTER_ROLE)
            mstore(0x20, kind)
            role := keccak256(0x00, 0x40)
        }
    }

    // ---------------------------------------------------------------- manufacturers

    /// @inheritdoc IDeviceRegistry
    function registerDevice(
        bytes32 deviceId,
        uint8 keyAlgorithm,
        bytes32 keyHash,
        bytes32 firmwareHash,
        bytes32 segment
    ) external onlyRole(MANUFACTURER_ROLE) {
        _registerDevice(_SINGLE, deviceId, keyAlgorithm, keyHash, firmwareHash, segment);
    }

    /// @inheritdoc IDeviceRegistry
    function registerDevices(DeviceRegistration[] calldata devices) external onlyRole(MANUFACTURER_ROLE) {
        uint256 n = devices.length;
        if (n == 0) revert DeviceRegistryEmptyBatch();
        for (uint256 i = 0; i < n;) {
            // Read the item's five words straight from calldata (a DeviceRegistration is five
            // static words): member access through a calldata struct pointer costs more per item in
            // bounds checks and offset arithmetic. keyAlgorithm gets the ABI decoder's uint8 range
            // check by hand.
            bytes32 deviceId;
            uint256 keyAlgorithm;
            bytes32 keyHash;
            bytes32 firmwareHash;
            bytes32 segment;
            assembly ("memory-safe") {
                let o := add(devices.offset, mul(i, 0xa0))
                deviceId := calldataload(o)
                keyAlgorithm := calldataload(add(o, 0x20))
                keyHash := calldataload(add(o, 0x40))
                firmwareHash := calldataload(add(o, 0x60))
                segment := calldataload(add(o, 0x80))
                if gt(keyAlgorithm, 0xff) {
                    revert(0, 0)
                }
            }
            _registerDevice(i, deviceId, keyAlgorithm, keyHash, firmwareHash, segment);
            unchecked {
                ++i;
            }
        }
    }

    /// @inheritdoc IDeviceRegistry
    function updateFirmware(bytes32 deviceId, bytes32 firmwareHash) external {
        (uint256 slot, uint256 word) = _ownDevice(deviceId);
        bytes32 head = _advance(
            slot,
            word,
            EventKind.FirmwareUpdated,
            _hash(deviceId, bytes32(uint256(uint160(msg.sender))), firmwareHash)
        );
        emit FirmwareUpdated(deviceId, msg.sender, firmwareHash, head);
    }

    /// @inheritdoc IDeviceRegistry
    function rotateKey(bytes32 deviceId, uint8 keyAlgorithm, bytes32 keyHash) external {
        _checkKey(_SINGLE, deviceId, keyAlgorithm, keyHash);
        (uint256 slot, uint256 word) = _ownDevice(deviceId);
        word = (word & ~_KEY_ALGORITHM_MASK) | (uint256(keyAlgorithm) << _KEY_ALGORITHM_SHIFT);
        bytes32 head = _advance(
            slot,
            word,
            EventKind.KeyRotated,
            _hash(deviceId, bytes32(uint256(uint160(msg.sender))), bytes32(uint256(keyAlgorithm)), keyHash)
        );
        emit KeyRotated(deviceId, msg.sender, keyAlgorithm, keyHash, head);
    }

    // ---------------------------------------------------------------- managers

    /// @inheritdoc IDeviceRegistry
    function suspendDevice(bytes32 deviceId, uint8 reason) external {
        _checkReason(reason);
        (uint256 slot, uint256 word) = _managedDevice(deviceId);
        uint256 status = _statusOf(word);
        if (status != _ACTIVE) revert DeviceRegistryDeviceNotActive(deviceId, DeviceStatus(status));
        bytes32 head = _advance(
            slot,
            _withStatus(word, _SUSPENDED),
            EventKind.DeviceSuspended,
            _hash(deviceId, bytes32(uint256(uint160(msg.sender))), bytes32(uint256(reason)))
        );
        emit DeviceSuspended(deviceId, msg.sender, reason, head);
    }

    /// @inheritdoc IDeviceRegistry
    function reinstateDevice(bytes32 deviceId) external {
        (uint256 slot, uint256 word) = _managedDevice(deviceId);
        uint256 status = _statusOf(word);
        if (status != _SUSPENDED) revert DeviceRegistryDeviceNotSuspended(deviceId, DeviceStatus(status));
        bytes32 head = _advance(
            slot,
            _withStatus(word, _ACTIVE),
            EventKind.DeviceReinstated,
            _hash(deviceId, bytes32(uint256(uint160(msg.sender))))
        );
        emit DeviceReinstated(deviceId, msg.sender, head);
    }

    /// @inheritdoc IDeviceRegistry
    function revokeDevice(bytes32 deviceId, uint8 reason) external {
        _checkReason(reason);
        (uint256 slot, uint256 word) = _managedDevice(deviceId);
        _revoke(slot, word, deviceId, reason);
    }

    /// @inheritdoc IDeviceRegistry
    function revokeDevices(bytes32[] calldata deviceIds, uint8 reason) external {
        uint256 n = deviceIds.length;
        if (n == 0) revert DeviceRegistryEmptyBatch();
        _checkReason(reason);
        // Roles cannot change within the call: look them up once for the whole batch (a cold
        // role lookup is 2,100 gas, a warm one ~100 per item) instead of once per item.
        bool officer = hasRole(SECURITY_OFFICER_ROLE, msg.sender);
        bool manufacturer = !officer && hasRole(MANUFACTURER_ROLE, msg.sender);
        uint256 records;
        assembly ("memory-safe") {
            records := _records.slot
        }
        for (uint256 i = 0; i < n;) {
            bytes32 deviceId;
            uint256 slot;
            uint256 word;
            bool allowed;
            // The per-item checks of {revokeDevice} in one expression, straight from calldata and
            // storage (the Solidity helpers cost ~400 gas more per item in calls and stack moves);
            // only a failing item goes through _revokeItemError to find which rule it broke.
            assembly ("memory-safe") {
                deviceId := calldataload(add(deviceIds.offset, shl(5, i)))
                mstore(0x00, deviceId)
                mstore(0x20, records)
                slot := keccak256(0x00, 0x40) // _records[deviceId]
                word := sload(slot)
                allowed := and(
                    // status Active (1) or Suspended (2)
                    lt(sub(and(shr(_STATUS_SHIFT, word), 0xff), 1), 2),
                    // an officer, or the device's manufacturer holding the role
                    or(officer, and(manufacturer, eq(and(word, 0xffffffffffffffffffffffffffffffffffffffff), caller())))
                )
            }
            if (!allowed) _revokeItemError(i, deviceId, word);
            _revoke(slot, word, deviceId, reason);
            unchecked {
                ++i;
            }
        }
    }

    // ---------------------------------------------------------------- attesters

    /// @inheritdoc IDeviceRegistry
    function attest(bytes32 deviceId, bytes32 kind, bytes32 evidenceHash, uint40 expiresAt) external returns (bytes32) {
        if (kind == 0) revert DeviceRegistryZeroKind();
        _checkRole(attesterRole(kind));
        return _attest(_SINGLE, deviceId, kind, evidenceHash, expiresAt);
    }

    /// @inheritdoc IDeviceRegistry
    function attestDevices(AttestationRequest[] calldata requests) external returns (bytes32[] memory uids) {
        uint256 n = requests.length;
        if (n == 0) revert DeviceRegistryEmptyBatch();
        uids = new bytes32[](n);
        // Batches usually hold one kind: check the caller's role once per run of equal kinds.
        bytes32 checkedKind = 0;
        for (uint256 i = 0; i < n;) {
            AttestationRequest calldata r = requests[i];
            bytes32 kind = r.kind;
            if (kind == 0) _fail(i, abi.encodeWithSelector(DeviceRegistryZeroKind.selector));
            if (kind != checkedKind) {
                bytes32 role = attesterRole(kind);
                if (!hasRole(role, msg.sender)) {
                    _fail(
                        i,
                        abi.encodeWithSelector(
                            IAccessControl.AccessControlUnauthorizedAccount.selector,
                            msg.sender,
                            role
                        )
                    );
                }
                checkedKind = kind;
            }
            uids[i] = _attest(i, r.deviceId, kind, r.evidenceHash, r.expiresAt);
            unchecked {
                ++i;
            }
        }
    }

    /// @inheritdoc IDeviceRegistry
    function revokeAttestation(bytes32 deviceId, bytes32 uid, uint8 reason) external {
        _checkReason(reason);
        Attestation storage a = _attestations[deviceId][uid];
        uint256 attestation;
        assembly ("memory-safe") {
            attestation := sload(a.slot)
        }
        address attester = address(uint160(attestation));
        if (attester == address(0)) revert DeviceRegistryUnknownAttestation(deviceId, uid);
        if (attestation & _REVOKED_FLAG != 0) revert DeviceRegistryAttestationAlreadyRevoked(uid);
        if (attester != msg.sender && !hasRole(SECURITY_OFFICER_ROLE, msg.sender)) {
            revert DeviceRegistryNotAttestationManager(uid, msg.sender);
        }
        uint256 slot = _deviceSlot(deviceId);
        uint256 word = _load(slot);
        // an attestation exists only for a registered device: the status is never None here
        if (_statusOf(word) == _REVOKED) revert DeviceRegistryDeviceRevoked(deviceId);
        assembly ("memory-safe") {
            sstore(a.slot, or(attestation, _REVOKED_FLAG))
        }
        bytes32 head = _advance(
            slot,
            word,
            EventKind.AttestationRevoked,
            _hash(deviceId, uid, bytes32(uint256(uint160(msg.sender))), bytes32(uint256(reason)))
        );
        emit AttestationRevoked(deviceId, uid, msg.sender, reason, head);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IDeviceRegistry
    function getDevice(bytes32 deviceId) external view returns (Device memory) {
        return _records[deviceId].device;
    }

    /// @inheritdoc IDeviceRegistry
    function getAttestation(bytes32 deviceId, bytes32 uid) external view returns (Attestation memory) {
        return _attestations[deviceId][uid];
    }

    /// @inheritdoc IDeviceRegistry
    function historyHead(bytes32 deviceId) external view returns (bytes32 head, uint32 eventCount) {
        DeviceRecord storage rec = _records[deviceId];
        return (rec.head, rec.device.eventCount);
    }

    /// @inheritdoc IDeviceRegistry
    function isActive(bytes32 deviceId) external view returns (bool) {
        return _records[deviceId].device.status == DeviceStatus.Active;
    }

    // ---------------------------------------------------------------- private paths

    /**
     * @dev The shared path of {registerDevice} and {registerDevices}, tuned because it is the
     * per-device cost of a batch (docs/gas.md):
     * - one cheap combined test of the input rules; only a failing item pays for finding out which
     *   rule failed (in the documented order) in _registrationError;
     * - a registered device always has a non-zero word (its manufacturer), a fresh id a zero one;
     * - one memory layout, not allocated (the batch loop reuses the same words for every device),
     *   serves the fields hash, the head and the event:
     *     p+0x00 deviceId | manufacturer | keyAlgorithm | keyHash | firmwareHash | segment  (fields)
     *     p+0xc0 0 (genesis head) | kind | fieldsHash                                      (chain)
     *   then p+0xc0 is overwritten with the new head, and p+0x40..p+0xe0 is the event's data:
     *   keyAlgorithm, keyHash, firmwareHash, segment, head.
     */
    function _registerDevice(
        uint256 index,
        bytes32 deviceId,
        uint256 keyAlgorithm,
        bytes32 keyHash,
        bytes32 firmwareHash,
        bytes32 segment
    ) private {
        unchecked {
            if (deviceId == 0 || keyAlgorithm - 1 >= _MAX_KEY_ALGORITHM || keyHash == 0) {
                _registrationError(index, deviceId, keyAlgorithm, keyHash);
            }
        }
        DeviceRecord storage rec = _records[deviceId];
        uint256 slot;
        uint256 existing;
        assembly ("memory-safe") {
            slot := rec.slot
            existing := sload(slot)
        }
        if (existing != 0) {
            _fail(index, abi.encodeWithSelector(DeviceRegistryDeviceAlreadyRegistered.selector, deviceId));
        }
        uint256 word =
            uint256(uint160(msg.sender)) |
                (_ACTIVE << _STATUS_SHIFT) |
                (uint256(keyAlgorithm) << _KEY_ALGORITHM_SHIFT) |
                (uint256(uint48(block.timestamp)) << _REGISTERED_AT_SHIFT) |
                _ONE_EVENT;
        bytes32 topic = DeviceRegistered.selector;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, deviceId)
            mstore(add(p, 0x20), caller())
            mstore(add(p, 0x40), keyAlgorithm)
            mstore(add(p, 0x60), keyHash)
            mstore(add(p, 0x80), firmwareHash)
            mstore(add(p, 0xa0), segment)
            mstore(add(p, 0xc0), 0)
            mstore(add(p, 0xe0), 1) // EventKind.DeviceRegistered
            mstore(add(p, 0x100), keccak256(p, 0xc0))
            let head := keccak256(add(p, 0xc0), 0x60)
            sstore(slot, word)
            sstore(add(slot, 1), head)
            mstore(add(p, 0xc0), head)
            log3(add(p, 0x40), 0xa0, topic, deviceId, caller())
        }
    }

    /// @dev Reverts with the first input rule a registration breaks.
    function _registrationError(uint256 index, bytes32 deviceId, uint256 keyAlgorithm, bytes32 keyHash) private pure {
        if (deviceId == 0) _fail(index, abi.encodeWithSelector(DeviceRegistryZeroDeviceId.selector));
        _checkKey(index, deviceId, uint8(keyAlgorithm), keyHash);
    }

    /// @dev Reverts with the first rule item `index` of {revokeDevices} breaks (same order as
    /// {revokeDevice}: unknown, revoked, not managed by the caller).
    function _revokeItemError(uint256 index, bytes32 deviceId, uint256 word) private view {
        uint256 status = _statusOf(word);
        if (status == _NONE) _fail(index, abi.encodeWithSelector(DeviceRegistryUnknownDevice.selector, deviceId));
        if (status == _REVOKED) _fail(index, abi.encodeWithSelector(DeviceRegistryDeviceRevoked.selector, deviceId));
        _fail(index, abi.encodeWithSelector(DeviceRegistryNotDeviceManager.selector, deviceId, msg.sender));
    }

    /// @dev Revokes a live device the caller may manage (checked by the caller of this function).
    /// The hot path of {revokeDevices}: hashing, head and event share one memory layout, in
    /// assembly, which saves ~350 gas per device over _advance + emit.
    function _revoke(uint256 slot, uint256 word, bytes32 deviceId, uint8 reason) private {
        bytes32 topic = DeviceRevoked.selector;
        uint256 revokedWord;
        unchecked {
            revokedWord = _withStatus(word, _REVOKED) + _ONE_EVENT; // wraps like _advance
        }
        assembly ("memory-safe") {
            sstore(slot, revokedWord)
            //   p+0x00 deviceId | by | reason             (fields, hashed)
            //   p+0x60 head | kind | fieldsHash           (chain, hashed)
            // then p+0x60 holds the new head and p+0x40..p+0x80 is the event's data: reason, head.
            let p := mload(0x40)
            mstore(p, deviceId)
            mstore(add(p, 0x20), caller())
            mstore(add(p, 0x40), reason)
            let headSlot := add(slot, 1)
            mstore(add(p, 0x60), sload(headSlot))
            mstore(add(p, 0x80), 6) // EventKind.DeviceRevoked
            mstore(add(p, 0xa0), keccak256(p, 0x60))
            let head := keccak256(add(p, 0x60), 0x60)
            sstore(headSlot, head)
            mstore(add(p, 0x60), head)
            log3(add(p, 0x40), 0x40, topic, deviceId, caller())
        }
    }

    /// @dev Records an attestation; kind and role are checked by the caller of this function.
    function _attest(
        uint256 index,
        bytes32 deviceId,
        bytes32 kind,
        bytes32 evidenceHash,
        uint40 expiresAt
    ) private returns (bytes32 uid) {
        if (expiresAt != 0 && expiresAt <= block.timestamp) {
            _fail(index, abi.encodeWithSelector(DeviceRegistryExpiryInPast.selector, expiresAt, block.timestamp));
        }
        (uint256 slot, uint256 word) = _liveDevice(index, deviceId);
        uid = _hash(deviceId, kind, bytes32(uint256(uint160(msg.sender))), bytes32(word >> 224)); // count before
        _storeAttestation(deviceId, uid, expiresAt);
        _recordAttested(slot, word, deviceId, uid, kind, evidenceHash, expiresAt);
    }

    function _storeAttestation(bytes32 deviceId, bytes32 uid, uint40 expiresAt) private {
        Attestation storage a = _attestations[deviceId][uid];
        uint256 attestation =
            uint256(uint160(msg.sender)) |
                (uint256(uint40(block.timestamp)) << _ISSUED_AT_SHIFT) |
                (uint256(expiresAt) << _EXPIRES_AT_SHIFT);
        assembly ("memory-safe") {
            sstore(a.slot, attestation)
        }
    }

    /// @dev Counts the event, advances the head and emits {Attested}: hashing, head and event
    /// share one memory layout, in assembly (saves ~200 gas over _advance + emit).
    function _recordAttested(
        uint256 slot,
        uint256 word,
        bytes32 deviceId,
        bytes32 uid,
        bytes32 kind,
        bytes32 evidenceHash,
        uint40 expiresAt
    ) private {
        bytes32 topic = Attested.selector;
        assembly ("memory-safe") {
            sstore(slot, add(word, _ONE_EVENT))
            //   p+0x00 deviceId | uid | kind | attester | evidenceHash | expiresAt   (fields, hashed)
            //   p+0xc0 head | kind | fieldsHash                                     (chain, hashed)
            // then p+0xc0 holds the new head and p+0x60..p+0xe0 is the event's data:
            //   attester, evidenceHash, expiresAt, head.
            let p := mload(0x40)
            mstore(p, deviceId)
            mstore(add(p, 0x20), uid)
            mstore(add(p, 0x40), kind)
            mstore(add(p, 0x60), caller())
            mstore(add(p, 0x80), evidenceHash)
            mstore(add(p, 0xa0), expiresAt)
            let headSlot := add(slot, 1)
            mstore(add(p, 0xc0), sload(headSlot))
            mstore(add(p, 0xe0), 7) // EventKind.Attested
            mstore(add(p, 0x100), keccak256(p, 0xc0))
            let head := keccak256(add(p, 0xc0), 0x60)
            sstore(headSlot, head)
            mstore(add(p, 0xc0), head)
            log4(add(p, 0x60), 0x80, topic, deviceId, uid, kind)
        }
    }

    /// @dev Loads a registered, not revoked device: its slot and packed word.
    function _liveDevice(uint256 index, bytes32 deviceId) private view returns (uint256 slot, uint256 word) {
        slot = _deviceSlot(deviceId);
        word = _load(slot);
        uint256 status = _statusOf(word);
        if (status == _NONE) _fail(index, abi.encodeWithSelector(DeviceRegistryUnknownDevice.selector, deviceId));
        if (status == _REVOKED) _fail(index, abi.encodeWithSelector(DeviceRegistryDeviceRevoked.selector, deviceId));
    }

    /// @dev Loads a live device the caller may manage: its manufacturer holding the role, or an officer.
    function _managedDevice(bytes32 deviceId) private view returns (uint256 slot, uint256 word) {
        (slot, word) = _liveDevice(_SINGLE, deviceId);
        if (
            !(_manufacturerOf(word) == msg.sender && hasRole(MANUFACTURER_ROLE, msg.sender)) &&
            !hasRole(SECURITY_OFFICER_ROLE, msg.sender)
        ) {
            revert DeviceRegistryNotDeviceManager(deviceId, msg.sender);
        }
    }

    /// @dev Loads a live device of which the caller is the manufacturer, holding the role.
    function _ownDevice(bytes32 deviceId) private view returns (uint256 slot, uint256 word) {
        (slot, word) = _liveDevice(_SINGLE, deviceId);
        if (_manufacturerOf(word) != msg.sender || !hasRole(MANUFACTURER_ROLE, msg.sender)) {
            revert DeviceRegistryNotDeviceManufacturer(deviceId, msg.sender);
        }
    }

    function _checkKey(uint256 index, bytes32 deviceId, uint8 keyAlgorithm, bytes32 keyHash) private pure {
        if (keyAlgorithm == 0 || keyAlgorithm > _MAX_KEY_ALGORITHM) {
            _fail(index, abi.encodeWithSelector(DeviceRegistryUnknownKeyAlgorithm.selector, keyAlgorithm));
        }
        if (keyHash == 0) _fail(index, abi.encodeWithSelector(DeviceRegistryZeroKeyHash.selector, deviceId));
    }

    function _checkReason(uint8 reason) private pure {
        if (reason > _MAX_REASON) revert DeviceRegistryUnknownReason(reason);
    }

    /// @dev Writes back the device word with the event counter incremented and advances the
    /// history head (the word after it) by one event: one SSTORE per word.
    function _advance(uint256 slot, uint256 word, EventKind kind, bytes32 fieldsHash) private returns (bytes32 head) {
        assembly ("memory-safe") {
            sstore(slot, add(word, _ONE_EVENT))
            // keccak256(abi.encode(head, uint8(kind), fieldsHash)) in free memory (not allocated)
            let p := mload(0x40)
            mstore(p, sload(add(slot, 1)))
            mstore(add(p, 0x20), kind)
            mstore(add(p, 0x40), fieldsHash)
            head := keccak256(p, 0x60)
            sstore(add(slot, 1), head)
        }
    }

    function _deviceSlot(bytes32 deviceId) private view returns (uint256 slot) {
        DeviceRecord storage rec = _records[deviceId];
        assembly ("memory-safe") {
            slot := rec.slot
        }
    }

    function _load(uint256 slot) private view returns (uint256 word) {
        assembly ("memory-safe") {
            word := sload(slot)
        }
    }

    function _statusOf(uint256 word) private pure returns (uint256) {
        return (word >> _STATUS_SHIFT) & 0xff;
    }

    function _withStatus(uint256 word, uint256 status) private pure returns (uint256) {
        return (word & ~_STATUS_MASK) | (status << _STATUS_SHIFT);
    }

    function _manufacturerOf(uint256 word) private pure returns (address) {
        return address(uint160(word));
    }

    // keccak256(abi.encode(<words>)) of 2, 3 or 4 words, hashed in free memory without
    // allocating it (abi.encode would allocate and copy on every call).

    function _hash(bytes32 a, bytes32 b) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, a)
            mstore(0x20, b)
            h := keccak256(0x00, 0x40)
        }
    }

    function _hash(bytes32 a, bytes32 b, bytes32 c) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, a)
            mstore(add(p, 0x20), b)
            mstore(add(p, 0x40), c)
            h := keccak256(p, 0x60)
        }
    }

    function _hash(bytes32 a, bytes32 b, bytes32 c, bytes32 d) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, a)
            mstore(add(p, 0x20), b)
            mstore(add(p, 0x40), c)
            mstore(add(p, 0x60), d)
            h := keccak256(p, 0x80)
        }
    }

    /// @dev Reverts with `err` as is for a single call, or wrapped with the batch index.
    function _fail(uint256 index, bytes memory err) private pure {
        if (index == _SINGLE) {
            assembly ("memory-safe") {
                revert(add(err, 0x20), mload(err))
            }
        }
        revert DeviceRegistryBatchItemFailed(index, err);
    }
}
