"""The network checks: DNS (SRV records), the port, and the OpenKMS probe."""
