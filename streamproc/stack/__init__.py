"""The servers the pipeline needs: start embedded stand-ins locally, provision topics and the index template."""
