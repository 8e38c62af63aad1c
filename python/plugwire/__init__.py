"""plugwire for Python: write plugwire plugins (and talk to plugwire peers) with asyncio."""
