# Placeholder; the full targets are written next.
