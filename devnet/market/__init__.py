"""The devnet's market: orders become leases and leases pay, as on the real network (§4, §6.1).

- :mod:`devnet.market.orders`: the devnet's order spec, and a node's ask for it.
- :mod:`devnet.market.bidding`: the gateway's bidding agent (bids for its connected nodes).
- :mod:`devnet.market.matchmaker`: picks the cheapest bid, ``matchOrder`` + ``createLease``.
- :mod:`devnet.market.settlement`: streams lease payments into EscrowProtocol and tells nodes.
- :mod:`devnet.market.rewards`: era rewards by the uptime rules.
- :mod:`devnet.market.watch`: following contract events and sending from asyncio.
"""
