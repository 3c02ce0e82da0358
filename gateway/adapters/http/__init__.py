"""The HTTP edge (aiohttp): partner authentication, limits, problem+json."""
