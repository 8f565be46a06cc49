"""The blockchain exporter: EVM chains polled over JSON-RPC in the background, read at scrape time."""
