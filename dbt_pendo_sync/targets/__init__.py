"""What a row becomes in Pendo, per target other than metadata (events today)."""
