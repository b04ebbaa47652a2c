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

    mapping(bytes32 deviceId => Device) private _devices;
    mapping(bytes32 deviceId => bytes32 head) private _heads;
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
    function attesterRole(bytes32 kind) public pure returns (bytes32) {
        return keccak256(abi.encode(_ATTESTER_ROLE, kind));
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
        for (uint256 i = 0; i < n; ++i) {
            DeviceRegistration calldata r = devices[i];
            _registerDevice(i, r.deviceId, r.keyAlgorithm, r.keyHash, r.firmwareHash, r.segment);
        }
    }

    /// @inheritdoc IDeviceRegistry
    function updateFirmware(bytes32 deviceId, bytes32 firmwareHash) external {
        Device memory d = _ownDevice(deviceId);
        bytes32 head = _advance(
            deviceId,
            d,
            EventKind.FirmwareUpdated,
            keccak256(abi.encode(deviceId, msg.sender, firmwareHash))
        );
        emit FirmwareUpdated(deviceId, msg.sender, firmwareHash, head);
    }

    /// @inheritdoc IDeviceRegistry
    function rotateKey(bytes32 deviceId, uint8 keyAlgorithm, bytes32 keyHash) external {
        _checkKey(_SINGLE, deviceId, keyAlgorithm, keyHash);
        Device memory d = _ownDevice(deviceId);
        d.keyAlgorithm = keyAlgorithm;
        bytes32 head = _advance(
            deviceId,
            d,
            EventKind.KeyRotated,
            keccak256(abi.encode(deviceId, msg.sender, keyAlgorithm, keyHash))
        );
        emit KeyRotated(deviceId, msg.sender, keyAlgorithm, keyHash, head);
    }

    // ---------------------------------------------------------------- managers

    /// @inheritdoc IDeviceRegistry
    function suspendDevice(bytes32 deviceId, uint8 reason) external {
        _checkReason(reason);
        Device memory d = _managedDevice(_SINGLE, deviceId);
        if (d.status != DeviceStatus.Active) revert DeviceRegistryDeviceNotActive(deviceId, d.status);
        d.status = DeviceStatus.Suspended;
        bytes32 head = _advance(
            deviceId,
            d,
            EventKind.DeviceSuspended,
            keccak256(abi.encode(deviceId, msg.sender, reason))
        );
        emit DeviceSuspended(deviceId, msg.sender, reason, head);
    }

    /// @inheritdoc IDeviceRegistry
    function reinstateDevice(bytes32 deviceId) external {
        Device memory d = _managedDevice(_SINGLE, deviceId);
        if (d.status != DeviceStatus.Suspended) revert DeviceRegistryDeviceNotSuspended(deviceId, d.status);
        d.status = DeviceStatus.Active;
        bytes32 head = _advance(deviceId, d, EventKind.DeviceReinstated, keccak256(abi.encode(deviceId, msg.sender)));
        emit DeviceReinstated(deviceId, msg.sender, head);
    }

    /// @inheritdoc IDeviceRegistry
    function revokeDevice(bytes32 deviceId, uint8 reason) external {
        _checkReason(reason);
        _revokeDevice(_SINGLE, deviceId, reason);
    }

    /// @inheritdoc IDeviceRegistry
    function revokeDevices(bytes32[] calldata deviceIds, uint8 reason) external {
        uint256 n = deviceIds.length;
        if (n == 0) revert DeviceRegistryEmptyBatch();
        _checkReason(reason);
        for (uint256 i = 0; i < n; ++i) {
            _revokeDevice(i, deviceIds[i], reason);
        }
    }

    // ---------------------------------------------------------------- attesters

    /// @inheritdoc IDeviceRegistry
    function attest(bytes32 deviceId, bytes32 kind, bytes32 evidenceHash, uint40 expiresAt) external returns (bytes32) {
        return _attest(_SINGLE, deviceId, kind, evidenceHash, expiresAt);
    }

    /// @inheritdoc IDeviceRegistry
    function attestDevices(AttestationRequest[] calldata requests) external returns (bytes32[] memory uids) {
        uint256 n = requests.length;
        if (n == 0) revert DeviceRegistryEmptyBatch();
        uids = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            AttestationRequest calldata r = requests[i];
            uids[i] = _attest(i, r.deviceId, r.kind, r.evidenceHash, r.expiresAt);
        }
    }

    /// @inheritdoc IDeviceRegistry
    function revokeAttestation(bytes32 deviceId, bytes32 uid, uint8 reason) external {
        _checkReason(reason);
        Attestation storage a = _attestations[deviceId][uid];
        address attester = a.attester;
        if (attester == address(0)) revert DeviceRegistryUnknownAttestation(deviceId, uid);
        if (a.revoked) revert DeviceRegistryAttestationAlreadyRevoked(uid);
        if (attester != msg.sender && !hasRole(SECURITY_OFFICER_ROLE, msg.sender)) {
            revert DeviceRegistryNotAttestationManager(uid, msg.sender);
        }
        Device memory d = _devices[deviceId];
        if (d.status == DeviceStatus.Revoked) revert DeviceRegistryDeviceRevoked(deviceId);
        a.revoked = true;
        bytes32 head = _advance(
            deviceId,
            d,
            EventKind.AttestationRevoked,
            keccak256(abi.encode(deviceId, uid, msg.sender, reason))
        );
        emit AttestationRevoked(deviceId, uid, msg.sender, reason, head);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IDeviceRegistry
    function getDevice(bytes32 deviceId) external view returns (Device memory) {
        return _devices[deviceId];
    }

    /// @inheritdoc IDeviceRegistry
    function getAttestation(bytes32 deviceId, bytes32 uid) external view returns (Attestation memory) {
        return _attestations[deviceId][uid];
    }

    /// @inheritdoc IDeviceRegistry
    function historyHead(bytes32 deviceId) external view returns (bytes32 head, uint32 eventCount) {
        return (_heads[deviceId], _devices[deviceId].eventCount);
    }

    /// @inheritdoc IDeviceRegistry
    function isActive(bytes32 deviceId) external view returns (bool) {
        return _devices[deviceId].status == DeviceStatus.Active;
    }

    // ---------------------------------------------------------------- private paths

    function _registerDevice(
        uint256 index,
        bytes32 deviceId,
        uint8 keyAlgorithm,
        bytes32 keyHash,
        bytes32 firmwareHash,
        bytes32 segment
    ) private {
        if (deviceId == 0) _fail(index, abi.encodeWithSelector(DeviceRegistryZeroDeviceId.selector));
        _checkKey(index, deviceId, keyAlgorithm, keyHash);
        if (_devices[deviceId].status != DeviceStatus.None) {
            _fail(index, abi.encodeWithSelector(DeviceRegistryDeviceAlreadyRegistered.selector, deviceId));
        }
        bytes32 head = _chain(
            0,
            EventKind.DeviceRegistered,
            keccak256(abi.encode(deviceId, msg.sender, keyAlgorithm, keyHash, firmwareHash, segment))
        );
        _devices[deviceId] = Device(msg.sender, DeviceStatus.Active, keyAlgorithm, uint48(block.timestamp), 1);
        _heads[deviceId] = head;
        emit DeviceRegistered(deviceId, msg.sender, keyAlgorithm, keyHash, firmwareHash, segment, head);
    }

    function _revokeDevice(uint256 index, bytes32 deviceId, uint8 reason) private {
        Device memory d = _managedDevice(index, deviceId);
        d.status = DeviceStatus.Revoked;
        bytes32 head = _advance(
            deviceId,
            d,
            EventKind.DeviceRevoked,
            keccak256(abi.encode(deviceId, msg.sender, reason))
        );
        emit DeviceRevoked(deviceId, msg.sender, reason, head);
    }

    function _attest(
        uint256 index,
        bytes32 deviceId,
        bytes32 kind,
        bytes32 evidenceHash,
        uint40 expiresAt
    ) private returns (bytes32 uid) {
        if (kind == 0) _fail(index, abi.encodeWithSelector(DeviceRegistryZeroKind.selector));
        bytes32 role = attesterRole(kind);
        if (!hasRole(role, msg.sender)) {
            _fail(
                index,
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, msg.sender, role)
            );
        }
        if (expiresAt != 0 && expiresAt <= block.timestamp) {
            _fail(index, abi.encodeWithSelector(DeviceRegistryExpiryInPast.selector, expiresAt, block.timestamp));
        }
        Device memory d = _liveDevice(index, deviceId);
        uid = keccak256(abi.encode(deviceId, kind, msg.sender, d.eventCount));
        _attestations[deviceId][uid] = Attestation(msg.sender, uint40(block.timestamp), expiresAt, false);
        bytes32 head = _advance(
            deviceId,
            d,
            EventKind.Attested,
            keccak256(abi.encode(deviceId, uid, kind, msg.sender, evidenceHash, expiresAt))
        );
        emit Attested(deviceId, uid, kind, msg.sender, evidenceHash, expiresAt, head);
    }

    /// @dev Loads a registered, not revoked device.
    function _liveDevice(uint256 index, bytes32 deviceId) private view returns (Device memory d) {
        d = _devices[deviceId];
        if (d.status == DeviceStatus.None)
            _fail(index, abi.encodeWithSelector(DeviceRegistryUnknownDevice.selector, deviceId));
        if (d.status == DeviceStatus.Revoked)
            _fail(index, abi.encodeWithSelector(DeviceRegistryDeviceRevoked.selector, deviceId));
    }

    /// @dev Loads a live device the caller may manage: its manufacturer holding the role, or an officer.
    function _managedDevice(uint256 index, bytes32 deviceId) private view returns (Device memory d) {
        d = _liveDevice(index, deviceId);
        if (
            !(d.manufacturer == msg.sender && hasRole(MANUFACTURER_ROLE, msg.sender)) &&
            !hasRole(SECURITY_OFFICER_ROLE, msg.sender)
        ) {
            _fail(index, abi.encodeWithSelector(DeviceRegistryNotDeviceManager.selector, deviceId, msg.sender));
        }
    }

    /// @dev Loads a live device of which the caller is the manufacturer, holding the role.
    function _ownDevice(bytes32 deviceId) private view returns (Device memory d) {
        d = _liveDevice(_SINGLE, deviceId);
        if (d.manufacturer != msg.sender || !hasRole(MANUFACTURER_ROLE, msg.sender)) {
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

    /// @dev Advances the history head of `deviceId` by one event and writes back `d` with the
    /// event counter incremented (one SSTORE per word).
    function _advance(
        bytes32 deviceId,
        Device memory d,
        EventKind kind,
        bytes32 fieldsHash
    ) private returns (bytes32 head) {
        head = _chain(_heads[deviceId], kind, fieldsHash);
        _heads[deviceId] = head;
        unchecked {
            ++d.eventCount;
        }
        _devices[deviceId] = d;
    }

    /// @dev keccak256(abi.encode(head, uint8(kind), fieldsHash)), hashed in scratch memory.
    function _chain(bytes32 head, EventKind kind, bytes32 fieldsHash) private pure returns (bytes32 result) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, head)
            mstore(add(p, 0x20), kind)
            mstore(add(p, 0x40), fieldsHash)
            result := keccak256(p, 0x60)
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
