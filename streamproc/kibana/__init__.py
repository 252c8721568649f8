"""Kibana: the saved objects generated from the task file, and their import through Kibana's API."""
