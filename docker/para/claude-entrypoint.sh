#!/bin/bash
# Minimal entrypoint script for Claude container

# Execute the command passed to the container
exec "$@"