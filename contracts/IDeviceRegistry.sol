// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IDeviceRegistry
 * @notice The on-chain record of IoT device identities, attestations and revocations.
 *
 * Storage holds only what on-chain checks need: per device one packed word (the fields of
 * {Device} and whether the current suspension was made by an officer) and the history head; per
 * attestation one packed word ({Attestation}). Key hash, firmware hash, segment, evidence and
 * reasons live in the events, and every event that concerns a device advances the device's
 * history head:
 *
 *     head' = keccak256(abi.encode(head, uint8(kind), keccak256(abi.encode(<event fields>))))
 *
 * where `head` starts at `bytes32(0)`, `kind` is the {EventKind} of the event and `<event fields>`
 * are all of the event's fields in declaration order except the trailing `head` (the `deviceId`
 * included, every field ABI-encoded with its declared type). The event carries the new head. An
 * auditor who holds a device's events recomputes the chain and compares it with {historyHead}: a
 * dropped, reordered or altered entry cannot match.
 */
interface IDeviceRegistry {
    /// @notice Lifecycle of a device. `None` means "not registered".
    enum DeviceStatus {
        None,
        Active,
        Suspended,
        Revoked
    }

    /// @notice The event kinds that advance a device's history head (the `kind` in the formula).
    enum EventKind {
        None,
        DeviceRegistered,
        FirmwareUpdated,
        KeyRotated,
        DeviceSuspended,
        DeviceReinstated,
        DeviceRevoked,
        Attested,
        AttestationRevoked
    }

    /**
     * @notice What storage holds for a device, as {getDevice} returns it (storage keeps it in one
     * slot, with `registeredAt` in 40 bits and the suspension flag beside it).
     * @param manufacturer The account that registered the device.
     * @param status The device's lifecycle status.
     * @param keyAlgorithm 1 secp256k1, 2 P-256, 3 Ed25519, 4 ML-DSA-44, 5 ML-DSA-65, 6 Ed25519+ML-DSA-44.
     * @param registeredAt Block timestamp of the registration.
     * @param eventCount Number of events that advanced the history head.
     */
    // false positive of the heuristic: 160 + 8 + 8 + 48 + 32 bits fill one slot exactly
    // solhint-disable-next-line gas-struct-packing
    struct Device {
        address manufacturer;
        DeviceStatus status;
        uint8 keyAlgorithm;
        uint48 registeredAt;
        uint32 eventCount;
    }

    /**
     * @notice What storage holds for an attestation; fits one slot (160 + 40 + 40 + 8 bits).
     * `uint40` seconds last until the year 36812.
     */
    struct Attestation {
        address attester;
        uint40 issuedAt;
        uint40 expiresAt;
        bool revoked;
    }

    /// @notice One device of a {registerDevices} batch.
    struct DeviceRegistration {
        bytes32 deviceId;
        uint8 keyAlgorithm;
        bytes32 keyHash;
        bytes32 firmwareHash;
        bytes32 segment;
    }

    /// @notice One attestation of an {attestDevices} batch.
    struct AttestationRequest {
        bytes32 deviceId;
        bytes32 kind;
        bytes32 evidenceHash;
        uint40 expiresAt;
    }

    // ---------------------------------------------------------------- errors

    /// @notice The device id is zero.
    error DeviceRegistryZeroDeviceId();

    /// @notice The key hash of `deviceId` is zero.
    /// @param deviceId The device being registered or re-keyed.
    error DeviceRegistryZeroKeyHash(bytes32 deviceId);

    /// @notice `keyAlgorithm` is not one of 1 (secp256k1), 2 (P-256), 3 (Ed25519), 4 (ML-DSA-44),
    /// 5 (ML-DSA-65), 6 (Ed25519+ML-DSA-44).
    /// @param keyAlgorithm The value given.
    error DeviceRegistryUnknownKeyAlgorithm(uint8 keyAlgorithm);

    /// @notice `deviceId` is registered already.
    /// @param deviceId The device id.
    error DeviceRegistryDeviceAlreadyRegistered(bytes32 deviceId);

    /// @notice `deviceId` is not registered.
    /// @param deviceId The device id.
    error DeviceRegistryUnknownDevice(bytes32 deviceId);

    /// @notice `deviceId` is revoked; revocation is terminal.
    /// @param deviceId The device id.
    error DeviceRegistryDeviceRevoked(bytes32 deviceId);

    /// @notice The operation needs `deviceId` to be active, but its status is `status`.
    /// @param deviceId The device id.
    /// @param status The device's current status.
    error DeviceRegistryDeviceNotActive(bytes32 deviceId, DeviceStatus status);

    /// @notice The operation needs `deviceId` to be suspended, but its status is `status`.
    /// @param deviceId The device id.
    /// @param status The device's current status.
    error DeviceRegistryDeviceNotSuspended(bytes32 deviceId, DeviceStatus status);

    /// @notice `account` is not the manufacturer of `deviceId` (or no longer holds the manufacturer role).
    /// @param deviceId The device id.
    /// @param account The caller.
    error DeviceRegistryNotDeviceManufacturer(bytes32 deviceId, address account);

    /// @notice `account` is neither the device's manufacturer (holding the manufacturer role) nor a
    /// security officer.
    /// @param deviceId The device id.
    /// @param account The caller.
    error DeviceRegistryNotDeviceManager(bytes32 deviceId, address account);

    /// @notice `deviceId` was suspended by a security officer and `account`, its manufacturer, is not
    /// one: a suspension made by an officer may be lifted only by an officer.
    /// @param deviceId The device id.
    /// @param account The caller.
    error DeviceRegistrySuspendedByOfficer(bytes32 deviceId, address account);

    /// @notice `reason` is not a known {IDeviceRegistry-DeviceRevoked} reason code (0..8).
    /// @param reason The value given.
    error DeviceRegistryUnknownReason(uint8 reason);

    /// @notice The attestation kind is zero.
    error DeviceRegistryZeroKind();

    /// @notice `expiresAt` is not in the future (`now` is the block timestamp); 0 means "never".
    /// @param expiresAt The expiry given.
    /// @param now The block timestamp.
    error DeviceRegistryExpiryInPast(uint40 expiresAt, uint256 now);

    /// @notice No attestation `uid` exists for `deviceId`.
    /// @param deviceId The device id.
    /// @param uid The attestation uid.
    error DeviceRegistryUnknownAttestation(bytes32 deviceId, bytes32 uid);

    /// @notice Attestation `uid` is revoked already.
    /// @param uid The attestation uid.
    error DeviceRegistryAttestationAlreadyRevoked(bytes32 uid);

    /// @notice `account` is neither the attester of `uid` nor a security officer.
    /// @param uid The attestation uid.
    /// @param account The caller.
    error DeviceRegistryNotAttestationManager(bytes32 uid, address account);

    /// @notice A batch function was called with no items.
    error DeviceRegistryEmptyBatch();

    /// @notice Item `index` of a batch failed with `reason` (an ABI-encoded custom error of this
    /// interface); the whole batch reverted.
    /// @param index Position of the failing item in the batch.
    /// @param reason The item's own error, e.g. `DeviceRegistryDeviceAlreadyRegistered(id)`.
    error DeviceRegistryBatchItemFailed(uint256 index, bytes reason);

    // ---------------------------------------------------------------- events

    /**
     * @notice `deviceId` was registered by `manufacturer`.
     * @param deviceId The device id.
     * @param manufacturer The registering manufacturer.
     * @param keyAlgorithm 1 secp256k1, 2 P-256, 3 Ed25519, 4 ML-DSA-44, 5 ML-DSA-65, 6 Ed25519+ML-DSA-44.
     * @param keyHash keccak256 of the canonical public key.
     * @param firmwareHash Hash of the installed firmware image.
     * @param segment Short network segment name, packed left-aligned.
     * @param head The device's new history head.
     */
    event DeviceRegistered(
        bytes32 indexed deviceId,
        address indexed manufacturer,
        uint8 keyAlgorithm,
        bytes32 keyHash,
        bytes32 firmwareHash,
        bytes32 segment,
        bytes32 head
    );

    /// @notice The firmware of `deviceId` changed to `firmwareHash` (by its manufacturer `by`).
    event FirmwareUpdated(bytes32 indexed deviceId, address indexed by, bytes32 firmwareHash, bytes32 head);

    /// @notice The key of `deviceId` was replaced (by its manufacturer `by`).
    event KeyRotated(bytes32 indexed deviceId, address indexed by, uint8 keyAlgorithm, bytes32 keyHash, bytes32 head);

    /// @notice `deviceId` was suspended by `by` for `reason` (a revocation reason code).
    event DeviceSuspended(bytes32 indexed deviceId, address indexed by, uint8 reason, bytes32 head);

    /// @notice `deviceId` was reinstated (suspended → active) by `by`.
    event DeviceReinstated(bytes32 indexed deviceId, address indexed by, bytes32 head);

    /**
     * @notice `deviceId` was revoked by `by`; revocation is terminal.
     * @param reason RFC 5280 CRLReason-like code: 0 Unspecified, 1 KeyCompromise,
     * 2 ManufacturerCompromise, 3 OwnershipChanged, 4 Superseded, 5 Decommissioned,
     * 6 PrivilegeWithdrawn, 7 PolicyViolation, 8 AnomalyDetected.
     */
    event DeviceRevoked(bytes32 indexed deviceId, address indexed by, uint8 reason, bytes32 head);

    /**
     * @notice `attester` attested `deviceId` for `kind`.
     * @param uid keccak256(abi.encode(deviceId, kind, attester, eventCount)) where eventCount is
     * the device's event count before this event.
     * @param expiresAt Expiry (unix seconds), 0 = never.
     */
    event Attested(
        bytes32 indexed deviceId,
        bytes32 indexed uid,
        bytes32 indexed kind,
        address attester,
        bytes32 evidenceHash,
        uint40 expiresAt,
        bytes32 head
    );

    /// @notice Attestation `uid` of `deviceId` was revoked by `by` for `reason`.
    event AttestationRevoked(
        bytes32 indexed deviceId,
        bytes32 indexed uid,
        address indexed by,
        uint8 reason,
        bytes32 head
    );

    // ---------------------------------------------------------------- roles

    /// @notice Role of accounts that may register devices and manage their own devices.
    function MANUFACTURER_ROLE() external view returns (bytes32);

    /// @notice Role of accounts that may suspend, reinstate and revoke any device and revoke any attestation.
    function SECURITY_OFFICER_ROLE() external view returns (bytes32);

    /// @notice The role that may attest devices for `kind`: keccak256(abi.encode("ATTESTER_ROLE", kind)).
    function attesterRole(bytes32 kind) external pure returns (bytes32);

    // ---------------------------------------------------------------- manufacturers

    /**
     * @notice Registers `deviceId`; the caller becomes its manufacturer.
     * @dev Requirements: caller holds MANUFACTURER_ROLE; `deviceId` and `keyHash` non-zero;
     * `keyAlgorithm` in 1..3; `deviceId` not registered yet.
     *
     * Emits a {DeviceRegistered} event.
     */
    function registerDevice(
        bytes32 deviceId,
        uint8 keyAlgorithm,
        bytes32 keyHash,
        bytes32 firmwareHash,
        bytes32 segment
    ) external;

    /**
     * @notice Registers every device of `devices`, all or nothing.
     * @dev Requirements: as {registerDevice} for each item; at least one item. A failing item
     * reverts the whole batch with {DeviceRegistryBatchItemFailed} naming its index.
     *
     * Emits one {DeviceRegistered} event per device.
     */
    function registerDevices(DeviceRegistration[] calldata devices) external;

    /**
     * @notice Records new firmware for `deviceId`.
     * @dev Requirements: caller is the device's manufacturer and holds MANUFACTURER_ROLE; device
     * registered and not revoked.
     *
     * Emits a {FirmwareUpdated} event.
     */
    function updateFirmware(bytes32 deviceId, bytes32 firmwareHash) external;

    /**
     * @notice Replaces the key of `deviceId`.
     * @dev Requirements: as {updateFirmware}; `keyHash` non-zero; `keyAlgorithm` in 1..3.
     *
     * Emits a {KeyRotated} event.
     */
    function rotateKey(bytes32 deviceId, uint8 keyAlgorithm, bytes32 keyHash) external;

    // ---------------------------------------------------------------- managers (own manufacturer or officer)

    /**
     * @notice Suspends active device `deviceId`.
     * @dev Requirements: caller is a security officer, or the device's manufacturer holding
     * MANUFACTURER_ROLE; device active; `reason` in 0..8.
     *
     * The registry records whether the suspension is the manufacturer's own (made by the device's
     * manufacturer holding MANUFACTURER_ROLE) or an officer's (made by anyone else, who can only be
     * a security officer): see {reinstateDevice}.
     *
     * Emits a {DeviceSuspended} event.
     */
    function suspendDevice(bytes32 deviceId, uint8 reason) external;

    /**
     * @notice Reinstates suspended device `deviceId`.
     * @dev Requirements: as {suspendDevice}; device suspended; a suspension made by a security
     * officer is lifted only by a security officer ({DeviceRegistrySuspendedByOfficer}): the
     * manufacturer may lift only its own suspension, an officer any suspension.
     *
     * Emits a {DeviceReinstated} event.
     */
    function reinstateDevice(bytes32 deviceId) external;

    /**
     * @notice Revokes `deviceId` for good.
     * @dev Requirements: as {suspendDevice}; device registered and not revoked.
     *
     * Emits a {DeviceRevoked} event.
     */
    function revokeDevice(bytes32 deviceId, uint8 reason) external;

    /**
     * @notice Revokes every device of `deviceIds` for `reason`, all or nothing.
     * @dev Requirements: as {revokeDevice} for each item; at least one item. A failing item
     * reverts the whole batch with {DeviceRegistryBatchItemFailed} naming its index.
     *
     * Emits one {DeviceRevoked} event per device.
     */
    function revokeDevices(bytes32[] calldata deviceIds, uint8 reason) external;

    // ---------------------------------------------------------------- attesters

    /**
     * @notice Attests `deviceId` for `kind` and returns the attestation uid.
     * @dev Requirements: caller holds `attesterRole(kind)`; `kind` non-zero; device registered and
     * not revoked; `expiresAt` zero (never) or in the future.
     *
     * Emits an {Attested} event.
     */
    function attest(
        bytes32 deviceId,
        bytes32 kind,
        bytes32 evidenceHash,
        uint40 expiresAt
    ) external returns (bytes32 uid);

    /**
     * @notice Records every attestation of `requests`, all or nothing.
     * @dev Requirements: as {attest} for each item; at least one item. A failing item reverts the
     * whole batch with {DeviceRegistryBatchItemFailed} naming its index.
     *
     * Emits one {Attested} event per item.
     */
    function attestDevices(AttestationRequest[] calldata requests) external returns (bytes32[] memory uids);

    /**
     * @notice Revokes attestation `uid` of `deviceId`.
     * @dev Requirements: caller is the attestation's attester or a security officer; attestation
     * exists and is not revoked; device not revoked; `reason` in 0..8. An attester may withdraw its
     * own attestations even after losing its role: withdrawing trust is always allowed.
     *
     * Emits an {AttestationRevoked} event.
     */
    function revokeAttestation(bytes32 deviceId, bytes32 uid, uint8 reason) external;

    // ---------------------------------------------------------------- views

    /// @notice What storage holds for `deviceId` (status None when not registered).
    function getDevice(bytes32 deviceId) external view returns (Device memory);

    /// @notice What storage holds for attestation `uid` of `deviceId` (attester zero when unknown).
    function getAttestation(bytes32 deviceId, bytes32 uid) external view returns (Attestation memory);

    /// @notice The history head of `deviceId` and the number of events it covers.
    function historyHead(bytes32 deviceId) external view returns (bytes32 head, uint32 eventCount);

    /// @notice Whether `deviceId` is registered and active.
    function isActive(bytes32 deviceId) external view returns (bool);
}
