"""The deployment files: docker-compose.yml, the worker Dockerfile, Kibana saved objects."""
