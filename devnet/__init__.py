"""The local development network: a chain with the Fizz contracts, and (later) a reference
gateway, matchmaker and tenant. Nothing here ships in the app; tests and ``make run`` use it."""
