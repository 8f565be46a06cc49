// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// A stand-in for the platform's claim registry, deployed by the blockchain exporter's tests and
/// benchmark: a few state-changing functions, events, a revert path and a payable receive.
contract AlisRegistry {
    event ClaimSubmitted(uint256 indexed id, address indexed by, bytes32 digest);
    event ClaimVerified(uint256 indexed id, bool valid);
    event Deposit(address indexed from, uint256 amount);

    uint256 public claims;
    mapping(uint256 => bool) public verified;

    function submitClaim(bytes32 digest) external returns (uint256 id) {
        id = claims++;
        emit ClaimSubmitted(id, msg.sender, digest);
    }

    /// Reverts for an unknown or already verified claim: the exporter must count those as failed.
    function verifyClaim(uint256 id, bool valid) external {
        require(id < claims, "no such claim");
        require(!verified[id], "already verified");
        verified[id] = true;
        emit ClaimVerified(id, valid);
    }

    receive() external payable {
        emit Deposit(msg.sender, msg.value);
    }
}
