"""The intent engine: skills (configured in TOML) evaluated over each session's events as
batches arrive; decisions with reasons; caps, cooldowns and holdouts (docs/engagement.md)."""
