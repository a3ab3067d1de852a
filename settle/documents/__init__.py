"""PDF rendering: plain data in, bytes out. Callers format every amount and date in the reader's
locale first, so this package never sees a float, a model or a currency rule."""
