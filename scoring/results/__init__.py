"""Period results (SPEC section 14): finalizing, reading, notifying."""
