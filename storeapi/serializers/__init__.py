"""Serializers parse requests and shape responses; they call no services."""
