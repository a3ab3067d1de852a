"""Message channels: how a message leaves Settle. Chosen by dotted path in
`settings.SETTLE_MESSAGE_CHANNELS`, the way Django picks an e-mail backend."""
