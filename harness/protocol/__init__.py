"""The protocol (pure): token kinds and minting; what a client saw -> outcome -> verdict."""
