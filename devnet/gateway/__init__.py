"""The reference gateway: accepts Fizz nodes over the tunnel protocol, checks them on chain,
and forwards public TCP ports to their leases (``fizz-node devnet gateway``)."""
