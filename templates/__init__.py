"""Jinja2 and Helm chart sources, shipped inside the fatectl package as fatectl._templates."""
