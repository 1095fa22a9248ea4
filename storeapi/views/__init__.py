"""The REST API's views: thin, they parse with serializers and call services and selectors."""
