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
 *
 * Anchored batches (mass registration by commitment): a manufacturer anchors a whole production
 * batch by the root of an OpenZeppelin `StandardMerkleTree` over its devices ({anchorDevices}), one
 * storage word per batch. Each device's leaf is
 *
 *     keccak256(bytes.concat(keccak256(abi.encode(deviceId, keyAlgorithm, keyHash, firmwareHash, segment))))
 *
 * (the five fields of {DeviceRegistration}, ABI types bytes32, uint8, bytes32, bytes32, bytes32),
 * and the tree hashes sorted pairs (leaves sorted by hash, the library's default), so
 * OpenZeppelin's merkle-tree library and its `MerkleProof` verify the device's proof. Device ids
 * stay keccak256(abi.encode(manufacturer, serial)): a device's proof comes with its serial, and
 * the registry checks the id against the batch's manufacturer, so a leaf carrying another
 * manufacturer's id never becomes a record (whoever verifies a proof off-chain checks the same).
 * A device of a batch has no storage until it needs some: {materializeDevice} writes its record
 * exactly as {registerDevice} would have (its history starts with its {DeviceRegistered}), after
 * which every device function works on it unchanged. The registry is also an OpenZeppelin
 * `Multicall`: `multicall([materializeDevice, revokeDevice])` (or attest, rotateKey,
 * suspendDevice, …) is one atomic transaction.
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

    /**
     * @notice What storage holds for an anchored batch, as {getBatch} returns it; fits one slot
     * (160 + 40 + 32 + 8 bits). The root is not stored: the batch id commits to it.
     * @param manufacturer The account that anchored the batch (zero when the batch is unknown).
     * @param anchoredAt Block timestamp of the anchoring: the `registeredAt` of its devices.
     * @param count Number of devices the manufacturer declared (the tree's leaf count; not
     * checkable on-chain, indexers check it against the manifest).
     * @param revoked Whether the batch was revoked ({revokeBatch}).
     */
    struct Batch {
        address manufacturer;
        uint40 anchoredAt;
        uint32 count;
        bool revoked;
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

    /// @notice A batch function was called with no items, or a batch was anchored with a count of 0.
    error DeviceRegistryEmptyBatch();

    /// @notice Item `index` of a batch failed with `reason` (an ABI-encoded custom error of this
    /// interface); the whole batch reverted.
    /// @param index Position of the failing item in the batch.
    /// @param reason The item's own error, e.g. `DeviceRegistryDeviceAlreadyRegistered(id)`.
    error DeviceRegistryBatchItemFailed(uint256 index, bytes reason);

    /// @notice The Merkle root given to {anchorDevices} is zero.
    error DeviceRegistryZeroRoot();

    /// @notice The caller anchored this root already: batch `batchId` exists (revoked or not).
    /// @param batchId keccak256(abi.encode(manufacturer, root)).
    error DeviceRegistryBatchAlreadyAnchored(bytes32 batchId);

    /// @notice No batch `batchId` was anchored.
    /// @param batchId The batch id.
    error DeviceRegistryUnknownBatch(bytes32 batchId);

    /// @notice Batch `batchId` is revoked; revocation is terminal and its devices cannot be materialized.
    /// @param batchId The batch id.
    error DeviceRegistryBatchRevoked(bytes32 batchId);

    /// @notice `account` is neither the manufacturer of `batchId` (holding the manufacturer role) nor a
    /// security officer.
    /// @param batchId The batch id.
    /// @param account The caller.
    error DeviceRegistryNotBatchManager(bytes32 batchId, address account);

    /// @notice `deviceId` is not keccak256(abi.encode(manufacturer, serial)): not the id of `serial`
    /// for the batch's manufacturer.
    /// @param deviceId The device id of the leaf.
    /// @param manufacturer The batch's manufacturer.
    /// @param serial The serial given.
    error DeviceRegistryDeviceIdMismatch(bytes32 deviceId, address manufacturer, string serial);

    /// @notice The proof does not lead from the leaf of `deviceId` to the root of `batchId`.
    /// @param batchId The batch id.
    /// @param deviceId The device id of the leaf.
    error DeviceRegistryInvalidProof(bytes32 batchId, bytes32 deviceId);

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

    /**
     * @notice `manufacturer` anchored batch `batchId`: `count` devices committed by the Merkle
     * `root`, listed (in tree order) by the manifest at `manifestUri` whose bytes hash to
     * `manifestHash`.
     * @param batchId keccak256(abi.encode(manufacturer, root)).
     * @param manufacturer The anchoring manufacturer: the manufacturer of every device of the batch.
     * @param root Root of the batch's `StandardMerkleTree` (leaf: see {IDeviceRegistry}).
     * @param count Number of devices (leaves).
     * @param manifestHash keccak256 of the manifest file's bytes (zero: no manifest published).
     * @param manifestUri Where the manifest is: `file:<name>` or `http(s)://…` (may be empty).
     */
    event DevicesAnchored(
        bytes32 indexed batchId,
        address indexed manufacturer,
        bytes32 root,
        uint32 count,
        bytes32 manifestHash,
        string manifestUri
    );

    /**
     * @notice Batch `batchId` of `manufacturer` was revoked by `by` for `reason` (a revocation
     * reason code): none of its devices is to be trusted any more, materialized or not.
     */
    event BatchRevoked(bytes32 indexed batchId, address indexed manufacturer, address indexed by, uint8 reason);

    /**
     * @notice `deviceId` of batch `batchId` got its storage record ({materializeDevice}, called by
     * anyone holding its proof). Emitted right after the device's {DeviceRegistered}, in the same
     * transaction: it marks that registration as anchored. It does not advance the history head
     * (the head of a materialized device is that of a direct registration with the same fields);
     * the link is proven by the leaf, the batch's root and the proof.
     */
    event DeviceMaterialized(bytes32 indexed deviceId, bytes32 indexed batchId);

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
     * `keyAlgorithm` a known code (1..6); `deviceId` not registered yet.
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
     * @dev Requirements: as {updateFirmware}; `keyHash` non-zero; `keyAlgorithm` a known code (1..6).
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

    // ---------------------------------------------------------------- anchored batches

    /**
     * @notice Anchors a batch of `count` devices by the Merkle `root` of their leaves and returns
     * its id, keccak256(abi.encode(msg.sender, root)); the caller becomes the manufacturer of every
     * device of the batch. One storage word per batch, whatever its size.
     * @dev Requirements: caller holds MANUFACTURER_ROLE; `root` non-zero; `count` non-zero; the
     * caller has not anchored `root` before ({DeviceRegistryBatchAlreadyAnchored}, even when that
     * batch is revoked). `manifestHash` and `manifestUri` are recorded in the event only.
     *
     * Emits a {DevicesAnchored} event.
     */
    function anchorDevices(
        bytes32 root,
        uint32 count,
        bytes32 manifestHash,
        string calldata manifestUri
    ) external returns (bytes32 batchId);

    /**
     * @notice Revokes batch `batchId` for good: every device of it is untrusted at once.
     * @dev Requirements: caller is the batch's manufacturer holding MANUFACTURER_ROLE, or a security
     * officer; batch anchored and not revoked; `reason` in 0..8. Devices of the batch materialized
     * before keep their own records (O(1) per batch: nothing per device is written): their
     * {isActive} does not change, but the batch's does ({getBatch}); indexers and verdicts treat
     * every device of a revoked batch as revoked.
     *
     * Emits a {BatchRevoked} event.
     */
    function revokeBatch(bytes32 batchId, uint8 reason) external;

    /**
     * @notice Writes the storage record of device `reg` of batch `batchId`, proven by its Merkle
     * `proof` and its `serial`, exactly as if its manufacturer had registered it directly at the
     * batch's anchoring time. Anyone may call it: a proof is a proof.
     * @dev Requirements: batch anchored and not revoked (a device of a revoked batch never becomes
     * active); `reg.deviceId` is keccak256(abi.encode(manufacturer, serial)) for the batch's
     * manufacturer; `proof` leads from the leaf of `reg` to the batch's root; then as
     * {registerDevice}: key algorithm known, key hash non-zero, device not registered yet (neither
     * materialized before nor registered directly). The record: manufacturer = the batch's,
     * registeredAt = the batch's anchoredAt, status Active, one event.
     *
     * Emits a {DeviceRegistered} event, then a {DeviceMaterialized} event.
     */
    function materializeDevice(
        bytes32 batchId,
        string calldata serial,
        DeviceRegistration calldata reg,
        bytes32[] calldata proof
    ) external;

    // ---------------------------------------------------------------- views

    /// @notice What storage holds for `deviceId` (status None when not registered).
    function getDevice(bytes32 deviceId) external view returns (Device memory);

    /// @notice What storage holds for attestation `uid` of `deviceId` (attester zero when unknown).
    function getAttestation(bytes32 deviceId, bytes32 uid) external view returns (Attestation memory);

    /// @notice The history head of `deviceId` and the number of events it covers.
    function historyHead(bytes32 deviceId) external view returns (bytes32 head, uint32 eventCount);

    /// @notice Whether `deviceId` is registered and active. Storage knows a device of an anchored
    /// batch only once it is materialized, and not whether its batch was revoked later: see {getBatch}.
    function isActive(bytes32 deviceId) external view returns (bool);

    /// @notice What storage holds for batch `batchId` (manufacturer zero when unknown).
    function getBatch(bytes32 batchId) external view returns (Batch memory);
}
