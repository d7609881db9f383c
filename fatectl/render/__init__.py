"""Pure renderers: Federation -> {relative path: text}; a separate writer puts them on disk."""
