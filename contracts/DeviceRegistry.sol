// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControlDefaultAdminRules} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {IDeviceRegistry} from "./IDeviceRegistry.sol";

/**
 * @title DeviceRegistry
 * @notice Zero-trust registry of IoT devices: registrations, attestations, suspensions and
 * revocations, each advancing a per-device tamper-evident history head. See {IDeviceRegistry}.
 *
 * Single and batch functions share one private path per operation; the private path takes the
 * item's batch index (or `_SINGLE`) so that a failing batch item reverts with
 * {DeviceRegistryBatchItemFailed} naming its index and carrying the item's own error. Every device
 * event goes the same way: change the record, {_advance} the history head, emit the event with
 * the new head. A materialized device of an anchored batch goes through the same {_registerDevice}
 * as a direct registration, with the batch's manufacturer and anchoring time.
 */
contract DeviceRegistry is IDeviceRegistry, AccessControlDefaultAdminRules, Multicall {
    /// @inheritdoc IDeviceRegistry
    bytes32 public constant MANUFACTURER_ROLE = keccak256("MANUFACTURER_ROLE");
    /// @inheritdoc IDeviceRegistry
    bytes32 public constant SECURITY_OFFICER_ROLE = keccak256("SECURITY_OFFICER_ROLE");

    bytes32 private constant _ATTESTER_ROLE = "ATTESTER_ROLE";
    uint8 private constant _MAX_KEY_ALGORITHM = 6;
    uint8 private constant _MAX_REASON = 8;
    uint256 private constant _SINGLE = type(uint256).max;

    /**
     * @dev What storage holds for a device: the fields of {Device} and who made the current
     * suspension in one slot (160 + 8 + 8 + 40 + 8 + 32 bits; `registeredAt` is kept in 40 bits,
     * enough until the year 36812, to make room for the flag), then the history head.
     */
    // false positive of the heuristic: 160 + 8 + 8 + 40 + 8 + 32 bits fill the first slot exactly
    // solhint-disable-next-line gas-struct-packing
    struct DeviceRecord {
        address manufacturer;
        DeviceStatus status;
        uint8 keyAlgorithm;
        uint40 registeredAt;
        /// @dev The current suspension was made through the security officer role (only an
        /// officer may lift it); meaningful while the status is Suspended.
        bool suspendedByOfficer;
        uint32 eventCount;
        bytes32 head;
    }

    mapping(bytes32 deviceId => DeviceRecord) private _records;
    mapping(bytes32 deviceId => mapping(bytes32 uid => Attestation)) private _attestations;
    mapping(bytes32 batchId => Batch) private _batches;

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
        _registerDevice(
            _SINGLE,
            msg.sender,
            uint40(block.timestamp),
            deviceId,
            keyAlgorithm,
            keyHash,
            firmwareHash,
            segment
        );
    }

    /// @inheritdoc IDeviceRegistry
    function registerDevices(DeviceRegistration[] calldata devices) external onlyRole(MANUFACTURER_ROLE) {
        uint256 n = devices.length;
        if (n == 0) revert DeviceRegistryEmptyBatch();
        uint40 now_ = uint40(block.timestamp);
        for (uint256 i = 0; i < n; ++i) {
            DeviceRegistration calldata d = devices[i];
            _registerDevice(i, msg.sender, now_, d.deviceId, d.keyAlgorithm, d.keyHash, d.firmwareHash, d.segment);
        }
    }

    /// @inheritdoc IDeviceRegistry
    function updateFirmware(bytes32 deviceId, bytes32 firmwareHash) external {
        DeviceRecord storage rec = _ownDevice(deviceId);
        bytes32 head = _advance(
            rec,
            EventKind.FirmwareUpdated,
            keccak256(abi.encode(deviceId, msg.sender, firmwareHash))
        );
        emit FirmwareUpdated(deviceId, msg.sender, firmwareHash, head);
    }

    /// @inheritdoc IDeviceRegistry
    function rotateKey(bytes32 deviceId, uint8 keyAlgorithm, bytes32 keyHash) external {
        _checkKey(_SINGLE, deviceId, keyAlgorithm, keyHash);
        DeviceRecord storage rec = _ownDevice(deviceId);
        rec.keyAlgorithm = keyAlgorithm;
        bytes32 head = _advance(
            rec,
            EventKind.KeyRotated,
            keccak256(abi.encode(deviceId, msg.sender, keyAlgorithm, keyHash))
        );
        emit KeyRotated(deviceId, msg.sender, keyAlgorithm, keyHash, head);
    }

    // ---------------------------------------------------------------- managers

    /// @inheritdoc IDeviceRegistry
    function suspendDevice(bytes32 deviceId, uint8 reason) external {
        _checkReason(reason);
        (DeviceRecord storage rec, bool asOfficer) = _managedDevice(deviceId);
        if (rec.status != DeviceStatus.Active) revert DeviceRegistryDeviceNotActive(deviceId, rec.status);
        rec.status = DeviceStatus.Suspended;
        rec.suspendedByOfficer = asOfficer;
        bytes32 head = _advance(rec, EventKind.DeviceSuspended, keccak256(abi.encode(deviceId, msg.sender, reason)));
        emit DeviceSuspended(deviceId, msg.sender, reason, head);
    }

    /// @inheritdoc IDeviceRegistry
    function reinstateDevice(bytes32 deviceId) external {
        (DeviceRecord storage rec, bool asOfficer) = _managedDevice(deviceId);
        if (rec.status != DeviceStatus.Suspended) revert DeviceRegistryDeviceNotSuspended(deviceId, rec.status);
        // The device's own manufacturer passes _managedDevice as manufacturer (asOfficer false)
        // even when it is an officer too: only then is its officer role looked up.
        if (rec.suspendedByOfficer && !asOfficer && !hasRole(SECURITY_OFFICER_ROLE, msg.sender)) {
            revert DeviceRegistrySuspendedByOfficer(deviceId, msg.sender);
        }
        rec.status = DeviceStatus.Active; // the flag is left as is: read only while suspended, set by each suspension
        bytes32 head = _advance(rec, EventKind.DeviceReinstated, keccak256(abi.encode(deviceId, msg.sender)));
        emit DeviceReinstated(deviceId, msg.sender, head);
    }

    /// @inheritdoc IDeviceRegistry
    function revokeDevice(bytes32 deviceId, uint8 reason) external {
        _checkReason(reason);
        (DeviceRecord storage rec, ) = _managedDevice(deviceId);
        _revoke(rec, deviceId, reason);
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
        for (uint256 i = 0; i < n; ++i) {
            bytes32 deviceId = deviceIds[i];
            DeviceRecord storage rec = _liveDevice(i, deviceId);
            if (!officer && !(manufacturer && rec.manufacturer == msg.sender)) {
                _fail(i, abi.encodeWithSelector(DeviceRegistryNotDeviceManager.selector, deviceId, msg.sender));
            }
            _revoke(rec, deviceId, reason);
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
        for (uint256 i = 0; i < n; ++i) {
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
        DeviceRecord storage rec = _records[deviceId];
        // an attestation exists only for a registered device: the status is never None here
        if (rec.status == DeviceStatus.Revoked) revert DeviceRegistryDeviceRevoked(deviceId);
        a.revoked = true;
        bytes32 head = _advance(
            rec,
            EventKind.AttestationRevoked,
            keccak256(abi.encode(deviceId, uid, msg.sender, reason))
        );
        emit AttestationRevoked(deviceId, uid, msg.sender, reason, head);
    }

    // ---------------------------------------------------------------- anchored batches

    /// @inheritdoc IDeviceRegistry
    function anchorDevices(
        bytes32 root,
        uint32 count,
        bytes32 manifestHash,
        string calldata manifestUri
    ) external onlyRole(MANUFACTURER_ROLE) returns (bytes32 batchId) {
        if (root == 0) revert DeviceRegistryZeroRoot();
        if (count == 0) revert DeviceRegistryEmptyBatch();
        batchId = keccak256(abi.encode(msg.sender, root));
        Batch storage batch = _batches[batchId];
        if (batch.manufacturer != address(0)) revert DeviceRegistryBatchAlreadyAnchored(batchId);
        _batches[batchId] = Batch(msg.sender, uint40(block.timestamp), count, false);
        emit DevicesAnchored(batchId, msg.sender, root, count, manifestHash, manifestUri);
    }

    /// @inheritdoc IDeviceRegistry
    function revokeBatch(bytes32 batchId, uint8 reason) external {
        _checkReason(reason);
        Batch storage batch = _liveBatch(batchId);
        address manufacturer = batch.manufacturer;
        if (
            !(manufacturer == msg.sender && hasRole(MANUFACTURER_ROLE, msg.sender)) &&
            !hasRole(SECURITY_OFFICER_ROLE, msg.sender)
        ) revert DeviceRegistryNotBatchManager(batchId, msg.sender);
        batch.revoked = true;
        emit BatchRevoked(batchId, manufacturer, msg.sender, reason);
    }

    /// @inheritdoc IDeviceRegistry
    function materializeDevice(
        bytes32 batchId,
        string calldata serial,
        DeviceRegistration calldata reg,
        bytes32[] calldata proof
    ) external {
        Batch storage batch = _liveBatch(batchId);
        address manufacturer = batch.manufacturer;
        bytes32 deviceId = reg.deviceId;
        if (deviceId != keccak256(abi.encode(manufacturer, serial))) {
            revert DeviceRegistryDeviceIdMismatch(deviceId, manufacturer, serial);
        }
        bytes32 leaf = keccak256(
            bytes.concat(keccak256(abi.encode(deviceId, reg.keyAlgorithm, reg.keyHash, reg.firmwareHash, reg.segment)))
        );
        // The root is not stored: the batch id commits to it (batchId = keccak256(abi.encode(manufacturer, root))).
        bytes32 root = MerkleProof.processProofCalldata(proof, leaf);
        if (keccak256(abi.encode(manufacturer, root)) != batchId) revert DeviceRegistryInvalidProof(batchId, deviceId);
        _registerDevice(
            _SINGLE,
            manufacturer,
            batch.anchoredAt,
            deviceId,
            reg.keyAlgorithm,
            reg.keyHash,
            reg.firmwareHash,
            reg.segment
        );
        emit DeviceMaterialized(deviceId, batchId);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IDeviceRegistry
    function getDevice(bytes32 deviceId) external view returns (Device memory) {
        DeviceRecord storage rec = _records[deviceId];
        return Device(rec.manufacturer, rec.status, rec.keyAlgorithm, rec.registeredAt, rec.eventCount);
    }

    /// @inheritdoc IDeviceRegistry
    function getAttestation(bytes32 deviceId, bytes32 uid) external view returns (Attestation memory) {
        return _attestations[deviceId][uid];
    }

    /// @inheritdoc IDeviceRegistry
    function historyHead(bytes32 deviceId) external view returns (bytes32 head, uint32 eventCount) {
        DeviceRecord storage rec = _records[deviceId];
        return (rec.head, rec.eventCount);
    }

    /// @inheritdoc IDeviceRegistry
    function isActive(bytes32 deviceId) external view returns (bool) {
        return _records[deviceId].status == DeviceStatus.Active;
    }

    /// @inheritdoc IDeviceRegistry
    function getBatch(bytes32 batchId) external view returns (Batch memory) {
        return _batches[batchId];
    }

    // ---------------------------------------------------------------- private paths

    /// @dev The shared path of {registerDevice}, {registerDevices} and {materializeDevice}.
    function _registerDevice(
        uint256 index,
        address manufacturer,
        uint40 registeredAt,
        bytes32 deviceId,
        uint8 keyAlgorithm,
        bytes32 keyHash,
        bytes32 firmwareHash,
        bytes32 segment
    ) private {
        if (deviceId == 0) _fail(index, abi.encodeWithSelector(DeviceRegistryZeroDeviceId.selector));
        _checkKey(index, deviceId, keyAlgorithm, keyHash);
        DeviceRecord storage rec = _records[deviceId];
        if (rec.status != DeviceStatus.None) {
            _fail(index, abi.encodeWithSelector(DeviceRegistryDeviceAlreadyRegistered.selector, deviceId));
        }
        rec.manufacturer = manufacturer;
        rec.status = DeviceStatus.Active;
        rec.keyAlgorithm = keyAlgorithm;
        rec.registeredAt = registeredAt;
        bytes32 head = _advance(
            rec,
            EventKind.DeviceRegistered,
            keccak256(abi.encode(deviceId, manufacturer, keyAlgorithm, keyHash, firmwareHash, segment))
        );
        emit DeviceRegistered(deviceId, manufacturer, keyAlgorithm, keyHash, firmwareHash, segment, head);
    }

    /// @dev Revokes a live device the caller may manage (checked by the caller of this function).
    function _revoke(DeviceRecord storage rec, bytes32 deviceId, uint8 reason) private {
        rec.status = DeviceStatus.Revoked;
        bytes32 head = _advance(rec, EventKind.DeviceRevoked, keccak256(abi.encode(deviceId, msg.sender, reason)));
        emit DeviceRevoked(deviceId, msg.sender, reason, head);
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
        DeviceRecord storage rec = _liveDevice(index, deviceId);
        uid = keccak256(abi.encode(deviceId, kind, msg.sender, rec.eventCount)); // count before this event
        _attestations[deviceId][uid] = Attestation(msg.sender, uint40(block.timestamp), expiresAt, false);
        bytes32 head = _advance(
            rec,
            EventKind.Attested,
            keccak256(abi.encode(deviceId, uid, kind, msg.sender, evidenceHash, expiresAt))
        );
        emit Attested(deviceId, uid, kind, msg.sender, evidenceHash, expiresAt, head);
    }

    /**
     * @dev Advances the history head of `rec` by one event of `kind` whose fields hash to
     * `fieldsHash` — head' = keccak256(abi.encode(head, uint8(kind), fieldsHash)), see
     * {IDeviceRegistry} — counts the event and returns the new head for the event to carry.
     */
    function _advance(DeviceRecord storage rec, EventKind kind, bytes32 fieldsHash) private returns (bytes32 head) {
        head = keccak256(abi.encode(rec.head, kind, fieldsHash));
        rec.head = head;
        unchecked {
            ++rec.eventCount; // wraps after 2^32 events of one device rather than locking it
        }
    }

    /// @dev A registered, not revoked device.
    function _liveDevice(uint256 index, bytes32 deviceId) private view returns (DeviceRecord storage rec) {
        rec = _records[deviceId];
        DeviceStatus status = rec.status;
        if (status == DeviceStatus.None) {
            _fail(index, abi.encodeWithSelector(DeviceRegistryUnknownDevice.selector, deviceId));
        }
        if (status == DeviceStatus.Revoked) {
            _fail(index, abi.encodeWithSelector(DeviceRegistryDeviceRevoked.selector, deviceId));
        }
    }

    /// @dev An anchored, not revoked batch.
    function _liveBatch(bytes32 batchId) private view returns (Batch storage batch) {
        batch = _batches[batchId];
        if (batch.manufacturer == address(0)) revert DeviceRegistryUnknownBatch(batchId);
        if (batch.revoked) revert DeviceRegistryBatchRevoked(batchId);
    }

    /**
     * @dev A live device the caller may manage: its manufacturer holding the role (`asOfficer`
     * false), or else a security officer (`asOfficer` true).
     */
    function _managedDevice(bytes32 deviceId) private view returns (DeviceRecord storage rec, bool asOfficer) {
        rec = _liveDevice(_SINGLE, deviceId);
        if (rec.manufacturer == msg.sender && hasRole(MANUFACTURER_ROLE, msg.sender)) return (rec, false);
        if (!hasRole(SECURITY_OFFICER_ROLE, msg.sender)) revert DeviceRegistryNotDeviceManager(deviceId, msg.sender);
        asOfficer = true;
    }

    /// @dev A live device of which the caller is the manufacturer, holding the role.
    function _ownDevice(bytes32 deviceId) private view returns (DeviceRecord storage rec) {
        rec = _liveDevice(_SINGLE, deviceId);
        if (rec.manufacturer != msg.sender || !hasRole(MANUFACTURER_ROLE, msg.sender)) {
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

    /// @dev Reverts with `err` as is for a single call, or wrapped with the batch index.
    function _fail(uint256 index, bytes memory err) private pure {
        if (index == _SINGLE) {
            // re-throw the encoded custom error unchanged (Solidity has no statement for it)
            assembly ("memory-safe") {
                revert(add(err, 0x20), mload(err))
            }
        }
        revert DeviceRegistryBatchItemFailed(index, err);
    }
}
