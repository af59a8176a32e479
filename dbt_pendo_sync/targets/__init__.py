"""Each Pendo target other than metadata (events, segments): its spec, and what a row becomes
in Pendo."""
