"""Writes of the store API: keys, product sync, image URL fetches, webhooks."""
