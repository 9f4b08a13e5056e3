"""Plugin discovery, hook specifications and load-time validation."""
